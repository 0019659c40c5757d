/**
 * The CLI a benchmark measures: what users run is the ncc bundle (dist/cli/index.js), which starts in less time and
 * memory than the TypeScript sources run as they are, so a benchmark builds a fresh one of this checkout.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface BenchCli {
  /** The script to run under node. */
  path: string;
  /** Removes the bundle built for the run (nothing for BENCH_CLI). */
  dispose(): Promise<void>;
}

/** BENCH_CLI when given; else `ncc build src/cli/main.ts` of this checkout into a temp directory. */
export async function benchCli(): Promise<BenchCli> {
  const given = process.env.BENCH_CLI;
  if (given !== undefined && given !== '') return { path: given, dispose: async () => undefined };
  const out = await mkdtemp(join(tmpdir(), 'bs-bench-cli-'));
  try {
    await promisify(execFile)('npx', ['ncc', 'build', 'src/cli/main.ts', '-o', out, '--quiet'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    await rm(out, { recursive: true, force: true });
    throw new Error(`ncc build src/cli/main.ts failed: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`);
  }
  return { path: join(out, 'index.js'), dispose: () => rm(out, { recursive: true, force: true }) };
}

/** The machine's 1-, 5- and 15-minute load averages: the noise a benchmark ran in. */
export function loadAverage(): string {
  return loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');
}
