import { execFileSync, spawn } from 'node:child_process';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../bin/batch-serialize.js', import.meta.url));

/** Refuses to measure on a machine without Node 24 or one of `tools`, naming how to get it. */
export function requireBenchMachine(npmScript: string, tools: readonly string[]): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) throw new Error(`Node ${process.versions.node}: the bench needs Node 24 (npm run ${npmScript})`);
  for (const tool of tools) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is not installed: run bash scripts/install-test-tools.sh`);
    }
  }
}

export interface Timing {
  seconds: number;
  /** Peak RSS of the process, when it was measured. */
  maxRssMiB?: number;
}

/**
 * Runs a command to completion and times it from spawn to exit. `stdoutFile` receives its standard output;
 * a non-zero exit is an error that quotes what the command said on stderr. Dirty pages left by whatever ran
 * before (the registry's uploads, the last output) are written back first, or they would land on whoever fsyncs.
 */
export async function timeCommand(
  command: string,
  args: string[],
  options: { stdoutFile?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Timing> {
  execFileSync('sync');
  const out = options.stdoutFile === undefined ? undefined : await open(options.stdoutFile, 'w');
  try {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', out?.fd ?? 'ignore', 'pipe'], env: options.env ?? process.env });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) throw new Error(`${command} ${args.join(' ')}: exit ${code}\n${stderr.trim()}`);
    return { seconds };
  } finally {
    await out?.close();
  }
}

/** Our CLI as a user runs it (or `cli`, another build of it), under this Node, with its peak RSS. */
export function timeCli(args: string[], scratch: string, cli = CLI): Promise<Timing> {
  return timeWithRss(process.execPath, [cli, ...args], scratch);
}

/**
 * A command under GNU time, for its peak RSS: the same measure for every program compared. (A preload in the
 * measured Node process would cost it the start of a TypeScript loader, about 0.1 s, that the others do not pay.)
 */
export async function timeWithRss(command: string, args: string[], scratch: string): Promise<Timing> {
  const rssFile = join(scratch, 'rss.txt');
  const timing = await timeCommand('/usr/bin/time', ['-f', '%M', '-o', rssFile, command, ...args]);
  const kib = Number((await readFile(rssFile, 'utf8')).trim());
  await rm(rssFile, { force: true });
  return { ...timing, maxRssMiB: kib / 1024 };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
