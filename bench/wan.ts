/**
 * `npm run bench:wan`: serializing from a registry across the internet, emulated. A loopback registry holds a gather
 * artifact shaped like the tutorial's `gather:sources1` (about 130 MB, two layers over 50 MB); a delay line of our
 * own (testkit/delay-line.ts: round trip, rate cap per connection, slow start) sits in front of it, in this process (the
 * clients measured are other processes). Through each link profile it times ours with default options (and with
 * --concurrency 16) against `skopeo copy --all` to an OCI directory (layers in parallel, to disk), and prints the
 * N-connection line (bytes / N x the per-connection rate) and our peak RSS. The instrument is checked in the same
 * rounds: `curl` fetching the same blobs over one connection should take about the 1-connection line (plus slow start
 * and a round trip per blob), and with 4 (`--parallel-immediate`: without it curl holds its transfers back to see
 * whether the first connection multiplexes) about the time of the biggest blob on one connection. Ours straight to the
 * registry, no delay line, is what this machine's CPU allows whatever the link. Medians of 3 runs after a warm-up,
 * interleaved, all in this one run; the load average before and after each profile says how shared the machine was.
 * Ours is what users run: a fresh ncc bundle of the CLI from these sources (bench/bundle.ts), unless BENCH_CLI
 * names another build to run (`ncc build src/cli/main.ts -o DIR`, BENCH_CLI=DIR/index.js).
 * Needs docker-registry, skopeo and curl (`bash scripts/install-test-tools.sh`) and Node 24.
 */
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaType, type Descriptor } from '../src/core/oci/descriptor.ts';
import { startDelayLine, type DelayLine, type LinkProfile } from '../testkit/delay-line.ts';
import { makeGather, makeImage, manifestsChildrenFirst, type Format, type Layer } from '../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../testkit/registry.ts';
import { blobPaths, pushLayer, pushWithoutLayers, type PushedArtifact } from './artifact.ts';
import { benchCli, loadAverage, type BenchCli } from './bundle.ts';
import { median, requireBenchMachine, timeCli, timeCommand, type Timing } from './measure.ts';

const RUNS = 3;
const CONNECTIONS = 4;
const MB = 1000 * 1000;
const PROFILES: Array<LinkProfile & { name: string }> = [
  { name: '40 ms RTT, 25 MB/s per connection', rttMs: 40, bytesPerSecond: 25 * MB },
  { name: '10 ms RTT, 100 MB/s per connection', rttMs: 10, bytesPerSecond: 100 * MB },
];
/** On the first profile, with default options. */
const TARGET = { skopeoRatio: 0.5, lineRatio: 2, maxRssMiB: 256 };
const MANIFEST_ACCEPT = Object.values(MediaType).join(', ');

/** The tutorial's sources1 at its real size: registry (3 layers) and grafana (Docker format, 5 layers). */
const IMAGES: Array<{ name: string; source: string; format: Format; layers: number[] }> = [
  { name: 'registry', source: 'docker.io/library/registry:2.8.3', format: 'oci', layers: [3.4 * MB, 5.6 * MB, 0.3 * MB] },
  {
    name: 'grafana',
    source: 'docker.io/grafana/grafana:10.4.1',
    format: 'docker',
    layers: [58 * MB, 52 * MB, 7.8 * MB, 1.2 * MB, 0.1 * MB],
  },
];

async function main(): Promise<void> {
  requireBenchMachine('bench:wan', ['docker-registry', 'skopeo', 'curl']);
  const scratch = await mkdtemp(join(tmpdir(), 'bs-bench-wan-'));
  let registry: RunningRegistry | undefined;
  let line: DelayLine | undefined;
  let cli: BenchCli | undefined;
  const cleanUp = async () => {
    await cli?.dispose();
    cli = undefined;
    await line?.stop();
    line = undefined;
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
    log(`registry ${registry.host}; pushing the artifact...`);
    const artifact = await pushWanArtifact(registry, 'wan/gather', 'sources1');
    const lines = [
      '',
      `artifact: gather of ${IMAGES.length} images, ${artifact.blobs.length} blobs, ${mb(artifact.bytes)} MB ` +
        `(layers ${IMAGES.flatMap((image) => image.layers.map(mb)).join(', ')} MB)`,
      `node ${process.versions.node}; seconds, median of ${RUNS} runs after one warm-up (the runs in brackets); ours with default options`,
    ];
    for (const [i, profile] of PROFILES.entries()) {
      line = await startDelayLine(registry.host, profile);
      log(`${profile.name}: delay line ${line.host}; measuring...`);
      const before = loadAverage();
      const results = await measure(ours, line, artifact, scratch);
      lines.push('', ...report(profile, results, artifact.bytes, i === 0), `  load average ${before} before, ${loadAverage()} after`);
      await line.stop();
      line = undefined;
    }
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await cleanUp();
  }
}

/** The gather's layers streamed into the registry, then its configs and manifests. */
async function pushWanArtifact(registry: RunningRegistry, repository: string, tag: string): Promise<PushedArtifact> {
  const layers: Layer[] = [];
  const entries = [];
  for (const image of IMAGES) {
    const pushed: Layer[] = [];
    for (const [i, size] of image.layers.entries()) {
      pushed.push(await pushLayer(registry.url, repository, `wan/${image.name}/${i}`, Math.round(size), image.format));
    }
    layers.push(...pushed);
    entries.push({ source: image.source, image: await makeImage(image.name, { layers: pushed, format: image.format }) });
  }
  const gather = makeGather(entries);
  const layerDigests = new Map(layers.map((layer) => [layer.descriptor.digest, layer.descriptor]));
  await pushWithoutLayers(registry.url, repository, tag, gather, new Set(layerDigests.keys()));
  const manifests = new Map(manifestsChildrenFirst(gather).map((descriptor) => [descriptor.digest, descriptor]));
  const blobs: Descriptor[] = [...gather.blobs].map(
    ([digest, bytes]) =>
      manifests.get(digest) ??
      layerDigests.get(digest) ?? { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: bytes.byteLength },
  );
  return {
    reference: `${registry.host}/${repository}:${tag}`,
    repository,
    blobs,
    bytes: blobs.reduce((sum, blob) => sum + blob.size, 0),
    images: IMAGES.length,
    multiPlatform: 0,
  };
}

interface Results {
  ours: Timing[];
  /** `--concurrency 16`: what more connections buy on this link (info). */
  ours16: Timing[];
  /** Ours straight to the registry: the floor this machine sets whatever the link (info). */
  oursDirect: Timing[];
  skopeo: Timing[];
  /** The instrument's check: curl over one connection, and over CONNECTIONS. */
  curl1: Timing[];
  curl: Timing[];
}

/**
 * Interleaved rounds (ours, ours --concurrency 16, ours with no delay line, skopeo, curl over 1 and 4 connections), the
 * first a warm-up; every client but the third reaches the registry through `line`. `ours` is the CLI script run.
 */
async function measure(ours: string, line: DelayLine, artifact: PushedArtifact, scratch: string): Promise<Results> {
  const reference = artifact.reference.replace(/^[^/]+/, line.host);
  const batch = join(scratch, 'wan.csv');
  await writeFile(batch, `name,artifact\nsources,${reference}\n`);
  const direct = join(scratch, 'direct.csv');
  await writeFile(direct, `name,artifact\nsources,${artifact.reference}\n`);
  const results: Results = { ours: [], ours16: [], oursDirect: [], skopeo: [], curl1: [], curl: [] };
  for (let round = 0; round <= RUNS; round++) {
    const keep = (list: Timing[], timing: Timing) => round > 0 && list.push(timing);

    for (const [list, batchFile, options] of [
      [results.ours, batch, []],
      [results.ours16, batch, ['--concurrency', '16']],
      [results.oursDirect, direct, []],
    ] as const) {
      const sync = join(scratch, 'sync');
      keep(list, await timeCli([batchFile, sync, ...options], scratch, ours));
      const [tar] = (await readdir(sync)).filter((name) => name === '000001-sources.tar');
      if (tar === undefined || (await stat(join(sync, tar))).size < artifact.bytes) throw new Error(`ours left no complete tar in ${sync}`);
      await rm(sync, { recursive: true });
    }

    const layout = join(scratch, 'skopeo');
    const skopeoArgs = ['copy', '--all', '--quiet', '--src-tls-verify=false', `docker://${reference}`, `oci:${layout}:sources1`];
    keep(results.skopeo, await timeCommand('skopeo', skopeoArgs));
    await rm(layout, { recursive: true });

    for (const [list, connections] of [
      [results.curl1, 1],
      [results.curl, CONNECTIONS],
    ] as const) {
      const fetched = join(scratch, 'curl');
      await mkdir(fetched);
      const urls = blobPaths(artifact).flatMap((path, i) => ['-o', String(i), `http://${line.host}${path}`]);
      const parallel = connections === 1 ? [] : ['--parallel', '--parallel-immediate', '--parallel-max', String(connections)];
      const curlArgs = ['-sS', '--fail', ...parallel, '-H', `Accept: ${MANIFEST_ACCEPT}`];
      keep(list, await timeCommand('curl', [...curlArgs, '--output-dir', fetched, ...urls]));
      const sizes = await Promise.all((await readdir(fetched)).map(async (name) => (await stat(join(fetched, name))).size));
      if (sizes.reduce((sum, size) => sum + size, 0) !== artifact.bytes) throw new Error(`curl fetched ${sizes.join('+')} bytes`);
      await rm(fetched, { recursive: true });
    }
  }
  return results;
}

function report(profile: LinkProfile & { name: string }, results: Results, bytes: number, targets: boolean): string[] {
  const time = (timings: Timing[]) => median(timings.map((timing) => timing.seconds));
  const ours = time(results.ours);
  const skopeo = time(results.skopeo);
  const curl = time(results.curl);
  const ours16 = time(results.ours16);
  const biggest = Math.max(...IMAGES.flatMap((image) => image.layers));
  const lineOf = (connections: number) => bytes / (connections * profile.bytesPerSecond);
  const rss = Math.max(...[...results.ours, ...results.ours16].map((timing) => timing.maxRssMiB ?? Infinity));
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  const lines = [
    `${profile.name}:`,
    row('1-connection line', lineOf(1), ''),
    row(`${CONNECTIONS}-connection line`, lineOf(CONNECTIONS), ''),
    row('curl, 1 connection', time(results.curl1), `${ratio(time(results.curl1) / lineOf(1))} the 1-connection line`, results.curl1),
    row(
      `curl --parallel, ${CONNECTIONS} connections`,
      curl,
      `${ratio(curl / (biggest / profile.bytesPerSecond))} the biggest blob on 1 connection`,
      results.curl,
    ),
    row('skopeo copy --all to an OCI dir', skopeo, '', results.skopeo),
    row(
      'ours',
      ours,
      `${ratio(ours / skopeo)} skopeo, ${ratio(ours / lineOf(CONNECTIONS))} the ${CONNECTIONS}-connection line`,
      results.ours,
    ),
    row('ours, --concurrency 16', ours16, `${ratio(ours16 / skopeo)} skopeo (info)`, results.ours16),
    row('ours, no delay line', time(results.oursDirect), 'what the CPU allows (info)', results.oursDirect),
    `peak RSS ${rss.toFixed(0)} MiB`,
  ];
  if (targets) {
    lines.push(
      `${verdict(ours / skopeo <= TARGET.skopeoRatio)}  ours/skopeo ${ratio(ours / skopeo)} (target <= ${TARGET.skopeoRatio}x)`,
      `${verdict(ours / lineOf(CONNECTIONS) <= TARGET.lineRatio)}  ours/${CONNECTIONS}-connection line ` +
        `${ratio(ours / lineOf(CONNECTIONS))} (target <= ${TARGET.lineRatio}x)`,
      `${verdict(rss < TARGET.maxRssMiB)}  peak RSS ${rss.toFixed(0)} MiB (target < ${TARGET.maxRssMiB} MiB)`,
    );
  }
  return lines;
}

function row(label: string, value: number, note: string, runs?: Timing[]): string {
  const all = runs === undefined ? '' : `[${runs.map((timing) => timing.seconds.toFixed(2)).join(' ')}]`;
  return `  ${label.padEnd(34)} ${value.toFixed(2).padStart(6)}  ${all.padEnd(18)}  ${note}`.trimEnd();
}

function ratio(value: number): string {
  return `${value.toFixed(2)}x`;
}

function mb(bytes: number): string {
  return (bytes / MB).toFixed(1);
}

function log(message: string): void {
  process.stderr.write(`bench:wan: ${message}\n`);
}

await main();
