/**
 * `npx node bench/verify.ts`: the far side on the benchmark's ~400 MB gather artifact (bench/artifact.ts).
 * `verify` against `sha256sum` on the same tar (the ratio), and the round trip: serialize from one loopback
 * registry, verify, deserialize into a second one. Medians of 5 runs after a warm-up, all in this one run.
 * Needs docker-registry (`bash scripts/install-test-tools.sh`) and Node 24.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveTag } from '../testkit/far-registry.ts';
import { startRegistry, type RunningRegistry } from '../testkit/registry.ts';
import { pushBigArtifact } from './artifact.ts';
import { median, timeCli, timeCommand, type Timing } from './measure.ts';

const RUNS = 5;

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'bs-bench-verify-'));
  const registries: RunningRegistry[] = [];
  try {
    const [source, far] = await Promise.all([startRegistry(), startRegistry()]);
    registries.push(source, far);
    log('pushing the artifact...');
    const { nested: artifact } = await pushBigArtifact(source, 'bench/gather', 'v1');
    const batch = join(scratch, 'batch.csv');
    await writeFile(batch, `name,artifact\nbench,${artifact.reference}\n`);
    const plain = join(scratch, 'sync');
    const zstd = join(scratch, 'sync-zstd');
    const serialized = await timeCli([batch, plain], scratch);
    await timeCli([batch, zstd, '--compression', 'zstd'], scratch);
    const tar = join(plain, '000001-bench.tar');
    const tarBytes = (await stat(tar)).size;
    const zstdBytes = (await stat(join(zstd, (await readdir(zstd)).find((n) => n.endsWith('.tar.zst')) as string))).size;

    log(`measuring (${RUNS} runs each after a warm-up)...`);
    const runs = { sha256sum: [] as Timing[], verify: [] as Timing[], verifyZstd: [] as Timing[], deserialize: [] as Timing[] };
    // Reading first, interleaved; then the loads, whose writes would disturb the reading.
    for (let round = 0; round <= RUNS; round++) {
      const keep = (list: Timing[], timing: Timing) => round > 0 && list.push(timing);
      keep(runs.sha256sum, await timeCommand('sha256sum', [tar]));
      keep(runs.verify, await timeCli(['verify', plain], scratch));
      keep(runs.verifyZstd, await timeCli(['verify', zstd], scratch));
    }
    for (let round = 0; round <= RUNS; round++) {
      const keep = (list: Timing[], timing: Timing) => round > 0 && list.push(timing);
      await rm(join(plain, 'successful-syncs.csv'), { force: true });
      keep(runs.deserialize, await timeCli(['deserialize', plain, `${far.host}/round-${round}`], scratch));
      const loaded = await resolveTag(far.url, `round-${round}/bench`, 'v1');
      if (loaded !== (await resolveTag(source.url, artifact.repository, 'v1')))
        throw new Error(`round ${round}: the far side's v1 is ${loaded}`);
    }

    const time = (list: Timing[]) => median(list.map((t) => t.seconds));
    const rss = (list: Timing[]) => `${Math.max(...list.map((t) => t.maxRssMiB ?? Infinity)).toFixed(0)} MiB`;
    const rate = (bytes: number, seconds: number) => `${(bytes / 1e6 / seconds).toFixed(0)} MB/s`;
    const line = (label: string, seconds: number, ...notes: string[]) =>
      `${label.padEnd(34)} ${seconds.toFixed(2).padStart(6)} s  ${notes.join(', ')}`;
    const verify = time(runs.verify);
    const sha256sum = time(runs.sha256sum);
    process.stdout.write(
      [
        '',
        `artifact ${(artifact.bytes / 1e6).toFixed(1)} MB in ${artifact.blobs.length} blobs; ` +
          `tar ${(tarBytes / 1e6).toFixed(1)} MB, zstd ${(zstdBytes / 1e6).toFixed(1)} MB; node ${process.versions.node}`,
        line(
          'serialize (once, --compression none)',
          serialized.seconds,
          rate(tarBytes, serialized.seconds),
          `peak RSS ${rss([serialized])}`,
        ),
        line('sha256sum of the tar', sha256sum, rate(tarBytes, sha256sum)),
        line(
          'verify, the same tar',
          verify,
          rate(tarBytes, verify),
          `peak RSS ${rss(runs.verify)}`,
          `${(verify / sha256sum).toFixed(2)}x sha256sum`,
        ),
        line(
          'verify, the zstd tar',
          time(runs.verifyZstd),
          `${rate(tarBytes, time(runs.verifyZstd))} of tar`,
          `peak RSS ${rss(runs.verifyZstd)}`,
        ),
        line(
          'deserialize into a second registry',
          time(runs.deserialize),
          rate(tarBytes, time(runs.deserialize)),
          `peak RSS ${rss(runs.deserialize)}`,
        ),
        `runs: sha256sum [${runs.sha256sum.map((t) => t.seconds.toFixed(2)).join(' ')}], ` +
          `verify [${runs.verify.map((t) => t.seconds.toFixed(2)).join(' ')}]`,
        '',
        `verify/sha256sum ${(verify / sha256sum).toFixed(2)}x`,
      ].join('\n') + '\n',
    );
  } finally {
    await Promise.all(registries.map((registry) => registry.stop()));
    await rm(scratch, { recursive: true, force: true });
  }
}

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

await main();
