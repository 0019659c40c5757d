import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CRASH_AT_VARIABLE } from '../../../src/core/crash-point.ts';
import { CLI } from './cli.ts';

/** A CLI process that stopped itself (SIGSTOP) at a crash point: kill it, or let it go on. */
export interface StoppedCli {
  pid: number;
  stderr(): string;
  /** SIGKILL, as `kill -9`; resolves once it is gone. */
  kill(): Promise<void>;
  /** SIGCONT: it runs on; resolves with its exit code. */
  resume(): Promise<number>;
}

/**
 * Runs the real CLI with `BATCH_SERIALIZE_CRASH_AT=POINT` (src/core/crash-point.ts, test only) and resolves once it
 * has stopped itself there. Rejects if it ends without reaching the point.
 */
export function runCliUntil(point: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<StoppedCli> {
  const child: ChildProcess = spawn(process.execPath, [CLI, ...args], {
    env: { ...env, [CRASH_AT_VARIABLE]: point },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes(`crash point ${point} reached`)) {
        resolve({
          pid: child.pid as number,
          stderr: () => stderr,
          kill: async () => {
            child.kill('SIGKILL');
            await exited;
          },
          resume: async () => {
            child.kill('SIGCONT');
            return exited;
          },
        });
      }
    });
    void exited.then((code) => reject(new Error(`the CLI ended (${code}) before crash point ${point}:\n${stderr}`)));
  });
}

/**
 * Every entry of a directory tree, `batch-serialize/` and what it holds included: a file as the sha256 of its bytes,
 * a directory as `dir`.
 */
export async function snapshot(dir: string, prefix = ''): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    if ((await stat(path)).isDirectory()) {
      result[prefix + name + '/'] = 'dir';
      Object.assign(result, await snapshot(path, `${prefix}${name}/`));
    } else {
      result[prefix + name] = createHash('sha256')
        .update(await readFile(path))
        .digest('hex');
    }
  }
  return result;
}
