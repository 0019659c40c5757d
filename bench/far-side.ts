/**
 * `npm run bench:far`: the far side against skopeo. A generated gather (bench/artifact.ts, the flat variant skopeo
 * can copy) at about 130 MB and about 1.5 GB is serialized once into a plain tar and a zstd one; then, in
 * interleaved rounds after a warm-up, each into a fresh loopback registry: `deserialize` of the plain tar and of the
 * zstd tar, and `skopeo copy --all --preserve-digests oci-archive:TAR docker://…` of the same two tars (skopeo
 * decompresses an archive as it unpacks it), its blob-info cache removed first (else it mounts blobs it remembers).
 * Each tar is compared with skopeo reading that same tar. Prints medians, peak RSS (GNU time's, for both
 * sides), the ratios, and the load average before and after; and the peak RSS of the serialize runs that made the
 * tars (the near side's memory at size, plain and zstd). `npx node bench/far-side.ts small|big` runs one size.
 * The CLI measured is what users run, a bundle of this checkout built at the start (bench/bundle.ts), or BENCH_CLI.
 * Needs docker-registry, skopeo and GNU time, and Node 24.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveTag } from '../testkit/far-registry.ts';
import { startRegistry } from '../testkit/registry.ts';
import { pushBigArtifact } from './artifact.ts';
import { benchCli, loadAverage } from './bundle.ts';
import { median, requireBenchMachine, timeCli, timeWithRss, type Timing } from './measure.ts';

const SIZES = { small: { scale: 0.33, runs: 5 }, big: { scale: 3.75, runs: 3 } } as const;
const TARGET = { skopeoRatio: 0.8, maxRssMiB: 128 };
/** What skopeo learned about blobs (containers/image's blob-info cache, rootful and rootless): removed before each run. */
const SKOPEO_CACHES = ['/var/lib/containers/cache', join(process.env.HOME ?? '/root', '.local/share/containers/cache')].flatMap((dir) =>
  ['blob-info-cache-v1.boltdb', 'blob-info-cache-v1.sqlite'].map((file) => join(dir, file)),
);

type Side = 'ours' | 'oursZstd' | 'skopeo' | 'skopeoZstd';

async function main(): Promise<void> {
  requireBenchMachine('bench:far', ['docker-registry', 'skopeo', '/usr/bin/time']);
  const wanted = process.argv.slice(2);
  const sizes = (Object.keys(SIZES) as Array<keyof typeof SIZES>).filter((size) => wanted.length === 0 || wanted.includes(size));
  const before = loadAverage();
  const cli = await benchCli();
  try {
    const startScratch = await mkdtemp(join(tmpdir(), 'bs-bench-far-start-'));
    const start = await timeCli(['--version'], startScratch, cli.path).finally(() => rm(startScratch, { recursive: true, force: true }));
    const lines: string[] = [
      `node ${process.versions.node}; ${cli.path}: starts in ${start.seconds.toFixed(2)} s, ${start.maxRssMiB?.toFixed(0)} MiB`,
      'seconds, median of the runs in brackets (after one warm-up); peak RSS, the largest of the runs',
    ];
    for (const size of sizes) lines.push('', ...(await measure(size, cli.path)));
    lines.push('', `load average (1, 5, 15 min): ${before} before, ${loadAverage()} after`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await cli.dispose();
  }
}

async function measure(size: keyof typeof SIZES, ours: string): Promise<string[]> {
  const { scale, runs } = SIZES[size];
  const scratch = await mkdtemp(join(tmpdir(), 'bs-bench-far-'));
  const source = await startRegistry();
  try {
    log(`${size}: pushing the artifact...`);
    const { flat } = await pushBigArtifact(source, 'bench/gather', 'v1', scale);
    const batch = join(scratch, 'batch.csv');
    await writeFile(batch, `name,artifact\nbench,${flat.reference}\n`);
    const plain = join(scratch, 'plain');
    const zstd = join(scratch, 'zstd');
    const serialized = {
      plain: await timeCli([batch, plain], scratch, ours),
      zstd: await timeCli([batch, zstd, '--compression', 'zstd'], scratch, ours),
    };
    const tar = join(plain, '000001-bench.tar');
    const zstdTar = join(zstd, (await readdir(zstd)).find((name) => name.endsWith('.tar.zst')) as string);
    const expected = await resolveTag(source.url, flat.repository, 'v1-flat');

    log(`${size}: measuring (${runs} runs after a warm-up)...`);
    const timings: Record<Side, Timing[]> = { ours: [], oursZstd: [], skopeo: [], skopeoZstd: [] };
    for (let round = 0; round <= runs; round++) {
      for (const side of ['ours', 'oursZstd', 'skopeo', 'skopeoZstd'] as const) {
        const far = await startRegistry();
        try {
          let timing: Timing;
          if (side === 'skopeo' || side === 'skopeoZstd') {
            await Promise.all(SKOPEO_CACHES.map((file) => rm(file, { force: true })));
            const archive = side === 'skopeo' ? tar : zstdTar;
            timing = await timeWithRss('skopeo', skopeoArgs(archive, flat.reference, `${far.host}/bench:v1-flat`), scratch);
          } else {
            const dir = side === 'ours' ? plain : zstd;
            await rm(join(dir, 'successful-syncs.csv'), { force: true });
            timing = await timeCli(['deserialize', dir, far.host], scratch, ours);
          }
          const loaded = await resolveTag(far.url, 'bench', 'v1-flat');
          if (loaded !== expected) throw new Error(`${side}, round ${round}: the far side's v1-flat is ${loaded}, not ${expected}`);
          if (round > 0) timings[side].push(timing);
        } finally {
          await far.stop();
        }
      }
    }
    const tarBytes = (await stat(tar)).size;
    return report(size, tarBytes, (await stat(zstdTar)).size, timings, serialized);
  } finally {
    await source.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The root is named: the tar's closing index.json lists every manifest, and skopeo wants one image. */
function skopeoArgs(tar: string, refName: string, destination: string): string[] {
  return [
    'copy',
    '--all',
    '--preserve-digests',
    '--quiet',
    '--dest-tls-verify=false',
    `oci-archive:${tar}:${refName}`,
    `docker://${destination}`,
  ];
}

/** Serializing the same gather is where the near side's memory is measured at size, plain and zstd (issue: under 256 MiB). */
const SERIALIZE_MAX_RSS_MIB = 256;

function report(
  size: string,
  tarBytes: number,
  zstdBytes: number,
  timings: Record<Side, Timing[]>,
  serialized: { plain: Timing; zstd: Timing },
): string[] {
  const time = (side: Side) => median(timings[side].map((timing) => timing.seconds));
  const rss = (side: Side) => Math.max(...timings[side].map((timing) => timing.maxRssMiB ?? Infinity));
  const row = (label: string, side: Side, note: string) =>
    `${label.padEnd(40)} ${time(side).toFixed(2).padStart(6)}  ` +
    `[${timings[side].map((timing) => timing.seconds.toFixed(2)).join(' ')}]`.padEnd(32) +
    `${rss(side).toFixed(0).padStart(4)} MiB  ${note}`.trimEnd();
  const ratio = time('ours') / time('skopeo');
  const zstdRatio = time('oursZstd') / time('skopeoZstd');
  const worstRss = Math.max(rss('ours'), rss('oursZstd'));
  const serializeRss = Math.max(serialized.plain.maxRssMiB ?? Infinity, serialized.zstd.maxRssMiB ?? Infinity);
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  return [
    `${size}: tar ${(tarBytes / 1e6).toFixed(1)} MB, zstd ${(zstdBytes / 1e6).toFixed(1)} MB`,
    row('skopeo copy --all oci-archive:, plain tar', 'skopeo', ''),
    row('skopeo copy --all oci-archive:, zstd tar', 'skopeoZstd', ''),
    row('deserialize, plain tar', 'ours', `${ratio.toFixed(2)}x skopeo`),
    row('deserialize, zstd tar', 'oursZstd', `${zstdRatio.toFixed(2)}x skopeo (zstd tar)`),
    `serialize of the gather (one run): plain ${serialized.plain.seconds.toFixed(2)} s, ${serialized.plain.maxRssMiB?.toFixed(0)} MiB; ` +
      `zstd ${serialized.zstd.seconds.toFixed(2)} s, ${serialized.zstd.maxRssMiB?.toFixed(0)} MiB peak RSS`,
    `${verdict(ratio <= TARGET.skopeoRatio)}  ${size}: plain ${ratio.toFixed(2)}x skopeo (target <= ${TARGET.skopeoRatio}x)`,
    `${verdict(zstdRatio <= TARGET.skopeoRatio)}  ${size}: zstd ${zstdRatio.toFixed(2)}x skopeo on the zstd tar ` +
      `(target <= ${TARGET.skopeoRatio}x)`,
    `${verdict(worstRss <= TARGET.maxRssMiB)}  ${size}: peak RSS ${worstRss.toFixed(0)} MiB (target <= ${TARGET.maxRssMiB} MiB)`,
    `${verdict(serializeRss < SERIALIZE_MAX_RSS_MIB)}  ${size}: serialize peak RSS ${serializeRss.toFixed(0)} MiB ` +
      `(target < ${SERIALIZE_MAX_RSS_MIB} MiB)`,
  ];
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

await main();
