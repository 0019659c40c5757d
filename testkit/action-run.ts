import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ActionsServer } from './actions-server.ts';

export const ACTION = fileURLToPath(new URL('../dist/index.js', import.meta.url));

export interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
  env: Record<string, string>;
}

/**
 * Runs the bundled action (dist/index.js) as a runner would: a Node 24 child process with INPUT_* and the
 * run's environment from the loopback Actions server, in the workspace. GITHUB_SERVER_URL stays unset.
 */
export async function runAction(
  server: ActionsServer,
  run: { runId: number; attempt?: number; event?: string },
  inputs: Record<string, string>,
): Promise<ActionRun> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    ...server.env({ runId: run.runId, attempt: run.attempt ?? 1 }),
    ...(run.event ? { GITHUB_EVENT_NAME: run.event } : {}),
  };
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [ACTION], { env, cwd: env.GITHUB_WORKSPACE, maxBuffer: 64 * 1024 * 1024 }, (error, out, err) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: out, stderr: err }),
    );
  });
  return {
    code,
    stdout,
    stderr,
    outputs: parseOutputs(await readFile(env.GITHUB_OUTPUT as string, 'utf8').catch(() => '')),
    summary: await readFile(env.GITHUB_STEP_SUMMARY as string, 'utf8').catch(() => ''),
    env,
  };
}

/** GITHUB_OUTPUT holds `name<<DELIMITER\nvalue\nDELIMITER` blocks (what @actions/core writes). */
function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const block = /^([^<\n]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (const match of text.matchAll(block)) outputs[match[1] as string] = match[3] as string;
  return outputs;
}
