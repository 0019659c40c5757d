/**
 * `npm run bench:memory`: every command's peak RSS at about 2 GB, for each compression. A generated gather
 * (bench/artifact.ts at 5x, about 2 GB) is serialized into a plain, a gzip and a zstd tar; each is verified and
 * deserialized into a fresh loopback registry. One run of each (GNU time's peak RSS moves little with the machine's
 * load; the seconds are printed for reference). The bound is 256 MiB for every command at any size and any
 * compression; the far side's own bound, 128 MiB, is judged at 130 MB and 1.5 GB by `npm run bench:far`.
 * The CLI measured is a fresh bundle of this checkout (bench/bundle.ts), or BENCH_CLI. `BENCH_MEMORY_SCALE` changes
 * the size (1 is about 400 MB). Needs docker-registry and GNU time, and Node 24, and some 10 GB of temp space.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Compression } from '../src/core/archive/compression.ts';
import { resolveTag } from '../testkit/far-registry.ts';
import { startRegistry } from '../testkit/registry.ts';
import { pushBigArtifact } from './artifact.ts';
import { benchCli, loadAverage } from './bundle.ts';
import { timeCli, type Timing } from './measure.ts';

const SCALE = Number(process.env.BENCH_MEMORY_SCALE ?? 5);
const MAX_RSS_MIB = 256;
const COMPRESSIONS: Compression[] = ['none', 'gzip', 'zstd'];
type Command = 'serialize' | 'verify' | 'deserialize';

async function main(): Promise<void> {
  if (!(SCALE > 0)) throw new Error(`BENCH_MEMORY_SCALE=${process.env.BENCH_MEMORY_SCALE}: a positive number, please`);
  const before = loadAverage();
  const cli = await benchCli();
  const scratch = await mkdtemp(join(tmpdir(), 'bs-bench-memory-'));
  const source = await startRegistry();
  try {
    log(`pushing a gather at ${SCALE}x...`);
    const { nested } = await pushBigArtifact(source, 'bench/gather', 'v1', SCALE);
    const batch = join(scratch, 'batch.csv');
    await writeFile(batch, `name,artifact\nbench,${nested.reference}\n`);
    const expected = await resolveTag(source.url, nested.repository, 'v1');
    const rows: string[] = [];
    let worst = 0;
    for (const compression of COMPRESSIONS) {
      const sync = join(scratch, compression);
      const timings = {} as Record<Command, Timing>;
      log(`${compression}: serialize, verify, deserialize...`);
      timings.serialize = await timeCli([batch, sync, '--compression', compression], scratch, cli.path);
      const tar = (await readdir(sync)).find((name) => name.startsWith('000001-bench.tar')) as string;
      const tarBytes = (await stat(join(sync, tar)).catch(() => undefined))?.size;
      if (tarBytes === undefined) throw new Error(`serialize --compression ${compression} left no 000001-bench.tar* in ${sync}`);
      timings.verify = await timeCli(['verify', sync], scratch, cli.path);
      const far = await startRegistry();
      try {
        timings.deserialize = await timeCli(['deserialize', sync, far.host], scratch, cli.path);
        const loaded = await resolveTag(far.url, 'bench', 'v1');
        if (loaded !== expected) throw new Error(`deserialize (${compression}): the far side's v1 is ${loaded}, not ${expected}`);
      } finally {
        await far.stop();
      }
      await rm(sync, { recursive: true, force: true });
      for (const command of ['serialize', 'verify', 'deserialize'] as const) {
        const { seconds, maxRssMiB = Infinity } = timings[command];
        worst = Math.max(worst, maxRssMiB);
        rows.push(
          `${command.padEnd(12)} ${compression.padEnd(5)} ${(tarBytes / 1e9).toFixed(2).padStart(5)} GB  ` +
            `${maxRssMiB.toFixed(0).padStart(4)} MiB  ${seconds.toFixed(1).padStart(6)} s`,
        );
      }
    }
    const verdict = worst < MAX_RSS_MIB ? 'PASS' : 'MISS';
    process.stdout.write(
      [
        '',
        `gather of ${(nested.bytes / 1e9).toFixed(2)} GB, ${nested.blobs.length} blobs; node ${process.versions.node}; ${cli.path}`,
        'command      comp.   tar     peak RSS   seconds (one run)',
        ...rows,
        `${verdict}  largest peak RSS ${worst.toFixed(0)} MiB (target < ${MAX_RSS_MIB} MiB for every command)`,
        `load average (1, 5, 15 min): ${before} before, ${loadAverage()} after`,
        '',
      ].join('\n'),
    );
  } finally {
    await source.stop();
    await rm(scratch, { recursive: true, force: true });
    await cli.dispose();
  }
}

function log(message: string): void {
  process.stderr.write(`bench:memory: ${message}\n`);
}

await main();
