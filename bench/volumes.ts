/**
 * `node bench/volumes.ts [RUNS]`: a ~400 MB gather artifact (bench/artifact.ts) serialized with `--compression zstd`
 * from a loopback registry, as one file and with `--max-file-size 100M` (five parts), alternating, RUNS times each
 * (default 3) after a warm-up of each; medians of wall time and CPU (user + system, GNU time) and their ratios,
 * measured in this one run. Needs docker-registry and GNU time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry } from '../testkit/registry.ts';
import { pushBigArtifact } from './artifact.ts';
import { CLI, median } from './measure.ts';

const RUNS = Number(process.argv[2] ?? 3);
const COMPRESSION = process.argv[3] ?? 'zstd';
/** BENCH_BEFORE_CLI: another checkout's bin/batch-serialize.js, timed writing parts too (a change's before and after). */
const BEFORE = process.env.BENCH_BEFORE_CLI;
const CASES: Record<string, { cli: string; options: string[] }> = {
  'one file': { cli: CLI, options: [] },
  'parts of 100M': { cli: CLI, options: ['--max-file-size', '100M'] },
  ...(BEFORE === undefined ? {} : { 'parts, before': { cli: BEFORE, options: ['--max-file-size', '100M'] } }),
};

interface Run {
  wall: number;
  cpu: number;
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'bs-bench-volumes-'));
  const registry = await startRegistry();
  try {
    const { nested } = await pushBigArtifact(registry, 'bench/gather', 'v1');
    const batch = join(scratch, 'batch.csv');
    await writeFile(batch, `name,artifact\ntools,${nested.reference}\n`);
    const results = new Map<string, Run[]>(Object.keys(CASES).map((name) => [name, []]));
    let count = 0;
    const digests = new Set<string>();
    for (let round = 0; round <= RUNS; round++) {
      for (const [name, { cli, options }] of Object.entries(CASES)) {
        const sync = join(scratch, `sync-${++count}`);
        execFileSync('sync');
        const timeFile = join(scratch, 'time.txt');
        execFileSync(
          '/usr/bin/time',
          ['-o', timeFile, '-f', '%e %U %S', process.execPath, cli, batch, sync, '--compression', COMPRESSION, ...options],
          {
            stdio: 'ignore',
          },
        );
        const [wall = 0, user = 0, system = 0] = (await readFile(timeFile, 'utf8')).trim().split(' ').map(Number);
        const files = (await readdir(sync)).filter((file) => file.includes('.tar')).length;
        // The ledger's sha256 of the file as stored (all parts joined): the same in every case, or the bytes differ.
        const ledger = await readFile(join(sync, 'batch-serialize', 'record-keeping.ledger.jsonl'), 'utf8');
        const sha256 = (JSON.parse(ledger.trim().split('\n')[0] as string) as { tar: { sha256: string } }).tar.sha256;
        digests.add(sha256);
        if (round > 0) results.get(name)?.push({ wall, cpu: user + system });
        console.error(
          `${round === 0 ? 'warm-up' : `run ${round}`}: ${name}: ${files} file(s), ${wall} s, cpu ${(user + system).toFixed(2)} s`,
        );
        await rm(sync, { recursive: true, force: true });
      }
    }
    const medians = [...results].map(([name, runs]) => ({
      name,
      wall: median(runs.map((run) => run.wall)),
      cpu: median(runs.map((run) => run.cpu)),
    }));
    console.log(`the file as stored: ${[...digests].join(', ')}${digests.size === 1 ? ' in every run' : ': THE BYTES DIFFER'}`);
    const one = medians[0] as { wall: number; cpu: number };
    for (const { name, wall, cpu } of medians) {
      console.log(
        `${name.padEnd(14)} ${wall.toFixed(2)} s wall, ${cpu.toFixed(2)} s cpu (medians of ${RUNS}); ` +
          `against one file: wall ${(wall / one.wall).toFixed(2)}, cpu ${(cpu / one.cpu).toFixed(2)}`,
      );
    }
  } finally {
    await registry.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
