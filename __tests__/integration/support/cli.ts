import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../../bin/batch-serialize.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real CLI as a user would (a child process under this Node), never throwing on a failed exit; `spawned` is
 * told its process id.
 */
export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; spawned?: (pid: number) => void } = {},
): Promise<CliResult> {
  const { spawned, ...execOptions } = options;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { ...execOptions, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (child.pid !== undefined) spawned?.(child.pid);
  });
}
