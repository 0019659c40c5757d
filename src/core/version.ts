import packageJson from '../../package.json' with { type: 'json' };

export const TOOL_NAME = 'batch-serialize';
export const TOOL_VERSION = `${TOOL_NAME} ${packageJson.version}`;
