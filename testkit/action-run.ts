import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ActionsServer, RunOptions } from './actions-server.ts';

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
 *
 * `run` is what `server.env()` takes: the run id and attempt (GITHUB_RUN_ID/ATTEMPT), the event (GITHUB_EVENT_NAME,
 * default `schedule`, or `pull_request` with `pullRequest`), the ref (GITHUB_REF/REF_NAME, default
 * `refs/heads/<default branch>`; a pull request's merge ref with `pullRequest`), the pull request (number, base,
 * head, head repository: a fork's when it names another), and so the event payload at GITHUB_EVENT_PATH
 * (`repository: {id, default_branch, full_name}`, `pull_request.head.repo.id`, `pull_request.base.ref`),
 * GITHUB_REPOSITORY_ID and the runtime token's `ac` claim (its cache scopes) that match.
 */
export async function runAction(server: ActionsServer, run: RunOptions, inputs: Record<string, string>): Promise<ActionRun> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    ...server.env({ ...run, event: run.event || undefined }),
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
