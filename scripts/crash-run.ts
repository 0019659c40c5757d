/**
 * `npx node scripts/crash-run.ts [--kills N] [--seconds S] [--jobs J] [--seed X] [--layer-scale K]`: kills the real
 * CLI with SIGKILL again and again, then reruns it plainly, and checks that every sync directory ends as an
 * uninterrupted run leaves it (same files, same bytes, same tracker and ledger; no lock, nothing moved aside).
 *
 * Loopback only: a CNCF registry on 127.0.0.1 (testkit/registry.ts) holding the tutorial's images, three tars a
 * run (000001-ops, 000002-tools, 000003-big). Bounded: at most N kills (default 80) and S seconds (default 240).
 *
 * 1. Every step: for plain and zstd, every crash point (src/core/crash-point.ts, BATCH_SERIALIZE_CRASH_AT: the CLI
 *    stops itself there and is killed) of every tar, and one holding only the lock.
 * 2. Random: a kill at a random time during a run (seeded), then with probability 1/2 another one during the rerun,
 *    up to three in a row, then a plain rerun. A run that ends before its kill counts as finished, not as a kill.
 *
 * Prints the kills tried, the runs that finished first, and every bad state found (the directory's differences).
 * zstd's bytes depend on how its input arrives (the same tar can compress differently, killed or not), so a zstd
 * tar is compared by what it holds (decompressed), its sidecar by whether it matches the tar, the ledger without
 * the tars' sha256 and size; byte differences of that kind are counted apart, as `zstd bytes`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { zstdDecompressSync } from 'node:zlib';
import { CRASH_AT_VARIABLE } from '../src/core/crash-point.ts';
import { SIDE_DIR } from '../src/core/sync-dir/side-dir.ts';
import { makeGather, makeImage, pushImageSet, tutorialImages } from '../testkit/images.ts';
import { startRegistry } from '../testkit/registry.ts';

const CLI = fileURLToPath(new URL('../bin/batch-serialize.js', import.meta.url));
const { values: options } = parseArgs({
  options: {
    kills: { type: 'string', default: '80' },
    seconds: { type: 'string', default: '240' },
    jobs: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    'layer-scale': { type: 'string', default: '20' },
  },
});
const MAX_KILLS = Number(options.kills);
const DEADLINE = Date.now() + Number(options.seconds) * 1000;
const JOBS = Math.max(1, Number(options.jobs));
const COMPRESSIONS = ['none', 'zstd'] as const;
type Compression = (typeof COMPRESSIONS)[number];
const TARS = 3;

let seed = Number(options.seed) >>> 0 || 1;
/** mulberry32: the same --seed, the same kill times asked for (what they hit still depends on the machine). */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
}

interface Outcome {
  code: number;
  stderr: string;
  /** Killed by us (SIGKILL). */
  killed: boolean;
}

/** The CLI, killed after `killAfterMs` (if still running), or stopped at a crash point and killed there. */
function run(args: string[], kill: { afterMs?: number; atPoint?: string } = {}): Promise<Outcome> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_COMPILE_CACHE: join(work, 'compile-cache') };
  if (kill.atPoint !== undefined) env[CRASH_AT_VARIABLE] = kill.atPoint;
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let killed = false;
  const killNow = () => {
    if (child.exitCode === null && child.signalCode === null) {
      killed = true;
      child.kill('SIGKILL');
    }
  };
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (kill.atPoint !== undefined && stderr.includes(`crash point ${kill.atPoint} reached`)) killNow();
  });
  const timer = kill.afterMs === undefined ? undefined : setTimeout(killNow, kill.afterMs);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, stderr, killed });
    }),
  );
}

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/**
 * Every entry of a directory tree (the side directory `batch-serialize/` and what it holds included), a file as the
 * sha256 of its bytes, a directory as `dir`. `byContent`: a zstd tar as the sha256 of what it holds, its sidecar as
 * whether it matches it (a sidecar in `batch-serialize/` is of the tar in the directory above it; elsewhere, as in
 * `moved-aside/…`, of the tar beside it), the ledger without the tars' facts.
 */
async function snapshot(dir: string, byContent: boolean, prefix = ''): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    if ((await stat(path)).isDirectory()) {
      result.set(`${prefix}${name}/`, 'dir');
      for (const [key, value] of await snapshot(path, byContent, `${prefix}${name}/`)) result.set(key, value);
      continue;
    }
    const bytes = await readFile(path);
    if (!byContent) result.set(prefix + name, sha256(bytes));
    else if (name.endsWith('.tar.zst')) result.set(prefix + name, `holds ${sha256(zstdDecompressSync(bytes))}`);
    else if (name.endsWith('.tar.zst.sha256')) {
      const tarDir = basename(dir) === SIDE_DIR ? dirname(dir) : dir;
      const tar = await readFile(join(tarDir, name.slice(0, -'.sha256'.length))).catch(() => undefined);
      result.set(prefix + name, tar !== undefined && bytes.toString().startsWith(sha256(tar)) ? 'matches its tar' : 'mismatch');
    } else if (name.endsWith('.ledger.jsonl')) {
      const lines = bytes
        .toString()
        .split('\n')
        .filter((line) => line !== '');
      result.set(prefix + name, sha256(lines.map((line) => JSON.stringify({ ...JSON.parse(line), tar: 'x' })).join('\n')));
    } else result.set(prefix + name, sha256(bytes));
  }
  return result;
}

function differences(got: Map<string, string>, want: Map<string, string>): string[] {
  const names = [...new Set([...got.keys(), ...want.keys()])].sort();
  return names.flatMap((name) => {
    if (!want.has(name)) return [`unexpected ${name}`];
    if (!got.has(name)) return [`missing ${name}`];
    return got.get(name) === want.get(name) ? [] : [`different ${name}`];
  });
}

const started = Date.now();
const work = await mkdtemp(join(tmpdir(), 'bs-crash-run-'));
const registry = await startRegistry();
const figures = { kills: 0, pointKills: 0, randomKills: 0, finishedFirst: 0, cases: 0, zstdBytes: 0, bad: [] as string[] };
try {
  const images = await tutorialImages({ layerScale: Number(options['layer-scale']) });
  const big = makeGather([{ source: 'example.com/big:1', image: await makeImage('big', { layers: [4 << 20, 4 << 20] }) }]);
  await pushImageSet(registry.url, 'gather', 'sources1', images.sources1);
  await pushImageSet(registry.url, 'gather', 'sources2', images.sources2);
  await pushImageSet(registry.url, 'gather', 'big', big);
  const batch = join(work, 'batch.csv');
  const rows = [`ops,${registry.host}/gather:sources1`, `tools,${registry.host}/gather:sources2`, `big,${registry.host}/gather:big`];
  await writeFile(batch, ['name,artifact', ...rows].join('\n') + '\n');

  const reference = new Map<Compression, { bytes: Map<string, string>; content: Map<string, string> }>();
  let runMs = 0;
  for (const compression of COMPRESSIONS) {
    const sync = join(work, `reference-${compression}`);
    const begun = Date.now();
    const result = await run([batch, sync, '--compression', compression]);
    runMs = Math.max(runMs, Date.now() - begun);
    if (result.code !== 0) throw new Error(`the uninterrupted run failed:\n${result.stderr}`);
    const verified = await run(['verify', sync]);
    if (verified.code !== 0) throw new Error(`verify of the uninterrupted run failed:\n${verified.stderr}`);
    const content = await snapshot(sync, true);
    // zstd sidecars are compared by whether they match their tars: the uninterrupted run's must (found where they are).
    const sidecars = [...content].filter(([name]) => name.endsWith('.tar.zst.sha256'));
    if (compression === 'zstd' && (sidecars.length !== TARS || sidecars.some(([, value]) => value !== 'matches its tar')))
      throw new Error(`the uninterrupted run's sidecars: ${JSON.stringify(sidecars)} (${TARS} matching their tars expected)`);
    reference.set(compression, { bytes: await snapshot(sync, false), content });
  }
  console.log(`uninterrupted run: about ${runMs} ms; sync directories in ${work}`);

  const points: Array<[Compression, string]> = [];
  for (const compression of COMPRESSIONS) {
    points.push([compression, 'locked:1']);
    for (let n = 1; n <= TARS; n++) {
      const steps = ['tar-writing', 'tar-written', '-', 'sidecar-written', 'renamed', '-', 'ledger-written', '-', 'tracker-written'];
      let temp = 3 * n - 2;
      for (const step of steps) points.push([compression, step === '-' ? `temp-written:${temp++}` : `${step}:${n}`]);
    }
  }

  let next = 0;
  const within = () => figures.kills < MAX_KILLS && Date.now() < DEADLINE;
  /** One case: kills (at a point, or at random times), then a plain rerun, then the check. */
  const oneCase = async (): Promise<void> => {
    const index = next++;
    const point = points[index];
    const compression: Compression = point ? point[0] : (COMPRESSIONS[index % 2] as Compression);
    const sync = join(work, `case-${index}`);
    const args = [batch, sync, '--compression', compression];
    const story: string[] = [];
    if (point) {
      const killed = await run(args, { atPoint: point[1] });
      if (!killed.killed) throw new Error(`crash point ${point[1]} was never reached:\n${killed.stderr}`);
      figures.kills++;
      figures.pointKills++;
      story.push(`killed at ${point[1]}`);
    } else {
      do {
        const afterMs = Math.floor(random() * runMs * 1.1);
        const result = await run(args, { afterMs });
        if (result.killed) {
          figures.kills++;
          figures.randomKills++;
          story.push(`killed after ${afterMs} ms`);
        } else {
          figures.finishedFirst++;
          story.push(`finished before ${afterMs} ms (${result.code})`);
          if (result.code !== 0) story.push(result.stderr.trim());
          break;
        }
      } while (random() < 0.5 && story.length < 3 && within());
    }
    const rerun = await run(args);
    const problems = rerun.code === 0 ? [] : [`the rerun failed (${rerun.code}): ${rerun.stderr.trim()}`];
    const want = reference.get(compression) as { bytes: Map<string, string>; content: Map<string, string> };
    problems.push(...differences(await snapshot(sync, true), want.content));
    if (problems.length === 0 && differences(await snapshot(sync, false), want.bytes).length > 0) figures.zstdBytes++;
    figures.cases++;
    if (problems.length > 0) figures.bad.push(`case ${index} (${compression}, ${story.join(', then ')}):\n    ${problems.join('\n    ')}`);
    else await rm(sync, { recursive: true, force: true });
  };
  await Promise.all(
    Array.from({ length: JOBS }, async () => {
      while (within()) await oneCase();
    }),
  );
} finally {
  await registry.stop();
}

const seconds = ((Date.now() - started) / 1000).toFixed(0);
console.log(
  `${figures.kills} kills (${figures.pointKills} at crash points, ${figures.randomKills} at random times), ` +
    `${figures.finishedFirst} runs finished before their kill, ${figures.cases} directories checked after a rerun, ` +
    `${figures.bad.length} bad states, ${seconds} s (zstd bytes: ${figures.zstdBytes} directories whose zstd tars hold the same ` +
    'tars as the uninterrupted run, compressed to other bytes)',
);
for (const bad of figures.bad) console.log(bad);
if (figures.bad.length === 0) await rm(work, { recursive: true, force: true });
process.exitCode = figures.bad.length === 0 ? 0 : 1;
