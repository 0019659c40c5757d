/**
 * `npm run bench`: serializing a ~400 MB gather artifact from a loopback registry, against curl fetching the same
 * blobs over one keep-alive connection into one file and against `skopeo copy --all ... oci-archive:`, plus our
 * peak RSS, our time with zstd, and a batch of 20 artifacts where nothing changed. Every figure is the median of
 * 3 runs after one warm-up, all measured in this one run (the machine's noise hits both sides of a ratio). Ours is
 * what users run: a fresh ncc bundle of the CLI (bench/bundle.ts), unless BENCH_CLI names another build to run.
 * Needs docker-registry, skopeo and curl (`bash scripts/install-test-tools.sh`) and Node 24.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MediaType } from '../src/core/oci/descriptor.ts';
import { startRegistry, type RunningRegistry } from '../testkit/registry.ts';
import { blobPaths, pushBigArtifact, pushSmallArtifacts, type PushedArtifact } from './artifact.ts';
import { benchCli, type BenchCli } from './bundle.ts';
import { median, requireBenchMachine, timeCli, timeCommand, type Timing } from './measure.ts';

const RUNS = 3;
const SMALL_ARTIFACTS = 20;
const TARGET = { curlRatio: 1.5, maxRssMiB: 256, nothingChangedSeconds: 1.25 };
const MANIFEST_ACCEPT = Object.values(MediaType).join(', ');
const DOWNLOAD_FLOOR = fileURLToPath(new URL('./download-floor.ts', import.meta.url));

async function main(): Promise<void> {
  requireBenchMachine('bench', ['docker-registry', 'skopeo', 'curl']);

  const scratch = await mkdtemp(join(tmpdir(), 'bs-bench-'));
  let registry: RunningRegistry | undefined;
  let cli: BenchCli | undefined;
  const cleanUp = async () => {
    await cli?.dispose();
    cli = undefined;
    await registry?.stop();
    registry = undefined;
    await rm(scratch, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanUp().finally(() => process.exit(130)));
  try {
    log(process.env.BENCH_CLI === undefined ? 'bundling the CLI...' : `ours: ${process.env.BENCH_CLI}`);
    cli = await benchCli();
    const ours = cli.path;
    registry = await startRegistry();
    log(`registry ${registry.host}; pushing the artifacts...`);
    const pushStarted = performance.now();
    const big = await pushBigArtifact(registry, 'bench/gather', 'v1');
    const small = await pushSmallArtifacts(registry, SMALL_ARTIFACTS);
    log(`pushed in ${seconds((performance.now() - pushStarted) / 1000)} s; measuring (${RUNS} runs each after a warm-up)...`);
    await report(
      await measureBig(ours, registry, big.nested, big.flat, scratch),
      await measureNothingChanged(ours, small, scratch),
      big.nested,
    );
  } finally {
    await cleanUp();
  }
}

interface BigResults {
  curl: Timing[];
  /** curl, then an fsync of its file: the durability every tar of ours pays before it is recorded. */
  curlFsync: Timing[];
  /** bench/download-floor.ts: what Node itself costs to receive the same bytes. */
  nodeFloor: Timing[];
  ours: Timing[];
  zstd: Timing[];
  skopeo: Timing[];
  tarBytes: number;
}

/**
 * Interleaved rounds (curl, curl + fsync, ours, ours zstd, skopeo), the first a warm-up, so drift hits every side
 * alike. `ours` is the CLI script run.
 */
async function measureBig(
  ours: string,
  registry: RunningRegistry,
  artifact: PushedArtifact,
  flat: PushedArtifact,
  scratch: string,
): Promise<BigResults> {
  const batch = join(scratch, 'big.csv');
  await writeFile(batch, `name,artifact\nbench,${artifact.reference}\n`);
  const urls = blobPaths(artifact).map((path) => `${registry.url}${path}`);
  const curlArgs = ['-sS', '--fail', '-H', `Accept: ${MANIFEST_ACCEPT}`];
  const results: BigResults = { curl: [], curlFsync: [], nodeFloor: [], ours: [], zstd: [], skopeo: [], tarBytes: 0 };
  for (let round = 0; round <= RUNS; round++) {
    const keep = (list: Timing[], timing: Timing) => round > 0 && list.push(timing);

    const fetched = join(scratch, 'curl.bin');
    keep(results.curl, await timeCommand('curl', [...curlArgs, ...urls], { stdoutFile: fetched }));
    await expectSize('curl output', fetched, artifact.bytes);
    await rm(fetched);
    keep(
      results.curlFsync,
      await timeCommand('sh', ['-c', 'out=$1; shift; curl "$@" > "$out" && sync "$out"', 'sh', fetched, ...curlArgs, ...urls]),
    );
    await rm(fetched);
    keep(results.nodeFloor, await timeCommand(process.execPath, [DOWNLOAD_FLOOR, fetched, MANIFEST_ACCEPT, ...urls]));
    await expectSize('bare Node download', fetched, artifact.bytes);
    await rm(fetched);

    for (const [list, compression] of [
      [results.ours, 'none'],
      [results.zstd, 'zstd'],
    ] as const) {
      const sync = join(scratch, `sync-${compression}`);
      keep(list, await timeCli([batch, sync, '--compression', compression], scratch, ours));
      const tars = (await readdir(sync)).filter((name) => /^000001-bench\.tar(\.zst)?$/.test(name));
      if (tars.length !== 1) throw new Error(`ours (${compression}) left ${tars.length} tars in ${sync}`);
      if (compression === 'none') results.tarBytes = (await stat(join(sync, tars[0] as string))).size;
      await rm(sync, { recursive: true });
    }

    const archive = join(scratch, 'skopeo.tar');
    keep(
      results.skopeo,
      await timeCommand('skopeo', [
        'copy',
        '--all',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${flat.reference}`,
        `oci-archive:${archive}`,
      ]),
    );
    await rm(archive);
  }
  if (results.tarBytes < artifact.bytes)
    throw new Error(`our tar holds ${results.tarBytes} bytes, less than the artifact's ${artifact.bytes}`);
  return results;
}

interface NothingChangedResults {
  start: Timing[];
  rerun: Timing[];
}

/** 20 artifacts serialized once; then the same batch again, which only resolves tags and writes nothing. */
async function measureNothingChanged(
  ours: string,
  rows: Array<{ name: string; reference: string }>,
  scratch: string,
): Promise<NothingChangedResults> {
  const batch = join(scratch, 'small.csv');
  const sync = join(scratch, 'sync-small');
  await mkdir(sync);
  await writeFile(batch, ['name,artifact', ...rows.map((row) => `${row.name},${row.reference}`), ''].join('\n'));
  await timeCli([batch, sync], scratch, ours);
  const tracker = await readFile(join(sync, 'record-keeping.csv'), 'utf8');
  if (tracker.trim().split('\n').length !== rows.length + 1)
    throw new Error(`first run of the small batch did not record ${rows.length} tars`);

  const results: NothingChangedResults = { start: [], rerun: [] };
  for (let round = 0; round <= RUNS; round++) {
    const start = await timeCli(['--version'], scratch, ours);
    const rerun = await timeCli([batch, sync], scratch, ours);
    if ((await readFile(join(sync, 'record-keeping.csv'), 'utf8')) !== tracker)
      throw new Error('a run where nothing changed changed the tracker');
    if (round > 0) {
      results.start.push(start);
      results.rerun.push(rerun);
    }
  }
  return results;
}

async function report(big: BigResults, unchanged: NothingChangedResults, artifact: PushedArtifact): Promise<void> {
  const time = (timings: Timing[]) => median(timings.map((timing) => timing.seconds));
  const curl = time(big.curl);
  const curlFsync = time(big.curlFsync);
  const ours = time(big.ours);
  const skopeo = time(big.skopeo);
  const zstd = time(big.zstd);
  const rss = Math.max(...big.ours.map((timing) => timing.maxRssMiB ?? Infinity));
  const start = time(unchanged.start);
  const rerun = time(unchanged.rerun);
  const rerunRss = Math.max(...unchanged.rerun.map((timing) => timing.maxRssMiB ?? Infinity));
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  const layers = artifact.blobs.filter((blob) => blob.size > 100_000).length;

  const lines = [
    '',
    `artifact: gather of ${artifact.images} images (${artifact.multiPlatform} multi-platform, as nested indexes), ` +
      `${artifact.blobs.length} blobs ` +
      `(${layers} over 100 kB), ${mb(artifact.bytes)} MB; our tar ${mb(big.tarBytes)} MB`,
    `node ${process.versions.node}; seconds, median of ${RUNS} runs after one warm-up (the runs in brackets)`,
    '',
    row('curl, 1 connection, 1 file', big.curl, ''),
    row('curl, then fsync of its file', big.curlFsync, `ours ${ratio(ours / curlFsync)} this (info)`),
    row('bare Node download (undici) **', big.nodeFloor, `ours ${ratio(ours / time(big.nodeFloor))} this (info)`),
    row('skopeo copy --all oci-archive *', big.skopeo, ''),
    row('ours, --compression none', big.ours, `${ratio(ours / curl)} curl, ${ratio(ours / skopeo)} skopeo`),
    row('ours, --compression zstd', big.zstd, `${ratio(zstd / curl)} curl (info)`),
    row('process start (--version)', unchanged.start, ''),
    row(`nothing changed, ${SMALL_ARTIFACTS} artifacts`, unchanged.rerun, `${ratio(rerun / start)} process start`),
    '* skopeo 1.9 cannot copy --all an index nested in an index: it copies a flat gather of the same images',
    '  (same configs and layers, every platform manifest listed directly, no nested index manifests).',
    '** bench/download-floor.ts: the same blobs fetched in turn, hashed once and written to one file, no tar, no fsync.',
    '',
    `${verdict(ours / curl <= TARGET.curlRatio)}  ours/curl ${ratio(ours / curl)} (target <= ${TARGET.curlRatio}x)`,
    `${verdict(rss < TARGET.maxRssMiB)}  peak RSS ${rss.toFixed(0)} MiB ` +
      `(target < ${TARGET.maxRssMiB} MiB; nothing-changed run ${rerunRss.toFixed(0)} MiB)`,
    `${verdict(rerun <= TARGET.nothingChangedSeconds)}  nothing changed ${seconds(rerun)} s for ${SMALL_ARTIFACTS} artifacts ` +
      `(target about 1 s: <= ${TARGET.nothingChangedSeconds} s)`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

function row(label: string, runs: Timing[], note: string): string {
  const value = median(runs.map((timing) => timing.seconds));
  const all = `[${runs.map((timing) => seconds(timing.seconds)).join(' ')}]`;
  return `${label.padEnd(34)} ${seconds(value).padStart(6)}  ${all.padEnd(18)}  ${note}`.trimEnd();
}

function seconds(value: number): string {
  return value.toFixed(2);
}

function ratio(value: number): string {
  return `${value.toFixed(2)}x`;
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function expectSize(what: string, path: string, bytes: number): Promise<void> {
  const size = (await stat(path)).size;
  if (size !== bytes) throw new Error(`${what}: ${size} bytes, expected ${bytes}`);
}

await main();
