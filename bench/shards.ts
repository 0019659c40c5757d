/**
 * `npm run bench:shards`: the bundled action (dist/index.js) against a loopback registry and the loopback cache and
 * artifact services of the tests.
 *
 * 1. One job against a sharded run (issue 13) on a generated batch of several names: the sharded run's wall time is
 *    its plan job, its slowest shard and its record job (the shards run at once on their own runners; here one after
 *    another, each timed alone, so they do not share this machine's CPUs), against the one job's.
 * 2. The peak disk a 2 GB run uses in the sync directory, with keep-tars (every tar stays) and without (each tar is
 *    deleted once uploaded and recorded), sampled every 20 ms.
 *
 * Every ratio compares figures measured in this one run. Needs docker-registry (`bash scripts/install-test-tools.sh`),
 * Node 24 and a built dist/index.js. `BENCH_NAMES`, `BENCH_NAME_MB` and `BENCH_DISK_MB` scale it.
 */
import { lstat, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from '../src/core/format.ts';
import { runAction, type ActionRun } from '../testkit/action-run.ts';
import { startActionsServer, type ActionsServer } from '../testkit/actions-server.ts';
import { makeGather, makeImage } from '../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../testkit/registry.ts';
import { pushLayer, pushWithoutLayers } from './artifact.ts';

const MB = 1000 * 1000;
const NAMES = Number(process.env.BENCH_NAMES ?? 6);
const NAME_BYTES = Number(process.env.BENCH_NAME_MB ?? 40) * MB;
const DISK_BYTES = Number(process.env.BENCH_DISK_MB ?? 2000) * MB;
const SHARDS = 3;
const DISK_NAMES = 4;
const SAMPLE_MS = 20;

/** `count` names, each a gather of one image of two layers (70% and 30% of `bytes`), in repositories of their own. */
async function pushNames(registry: RunningRegistry, prefix: string, count: number, bytes: number): Promise<string[]> {
  const rows = [];
  for (let i = 1; i <= count; i++) {
    const name = `${prefix}${i}`;
    const repository = `bench/${name}`;
    const layers = [
      await pushLayer(registry.url, repository, `shards/${name}/big`, Math.round(bytes * 0.7), 'oci'),
      await pushLayer(registry.url, repository, `shards/${name}/small`, Math.round(bytes * 0.3), 'oci'),
    ];
    const gather = makeGather([{ source: `registry.example.com/${repository}:1.0`, image: await makeImage(name, { layers }) }]);
    await pushWithoutLayers(registry.url, repository, 'v1', gather, new Set(layers.map((layer) => layer.descriptor.digest)));
    rows.push(`${name},${registry.host}/${repository}:v1`);
  }
  return rows;
}

let runIds = 100;

/** One job on a fresh runner: its wall time from spawn to exit; a failure stops the bench. */
async function job(
  server: ActionsServer,
  runId: number,
  rows: string[],
  inputs: Record<string, string>,
): Promise<{ run: ActionRun; seconds: number }> {
  await server.resetRunner();
  const workspace = server.env({ runId }).GITHUB_WORKSPACE as string;
  await writeFile(join(workspace, 'batch.csv'), ['name,artifact', ...rows].join('\n') + '\n');
  const started = performance.now();
  const run = await runAction(server, { runId }, { 'github-token': server.token, ...inputs });
  const seconds = (performance.now() - started) / 1000;
  if (run.code !== 0) throw new Error(`${inputs.mode ?? 'serialize'} job of run ${runId} failed:\n${run.stdout}\n${run.stderr}`);
  return { run, seconds };
}

async function oneJobAgainstShards(server: ActionsServer, rows: string[]): Promise<void> {
  const one = await job(server, ++runIds, rows, { 'cache-key-prefix': 'one-job' });
  const runId = ++runIds;
  const inputs = { 'cache-key-prefix': 'sharded', shards: String(SHARDS) };
  const plan = await job(server, runId, rows, { ...inputs, mode: 'plan-shards' });
  const matrix = JSON.parse(plan.run.outputs.matrix ?? '') as { include: Array<{ shard: number; names: string; bytes: number }> };
  const shards = [];
  for (const { shard } of matrix.include)
    shards.push(await job(server, runId, [], { ...inputs, mode: 'serialize-shard', shard: String(shard) }));
  const record = await job(server, runId, [], { ...inputs, mode: 'record-shards' });
  if (record.run.outputs.shipped !== one.run.outputs.shipped) throw new Error('the sharded run recorded another number of tars');

  const slowest = Math.max(...shards.map((shard) => shard.seconds));
  const wall = plan.seconds + slowest + record.seconds;
  const machine = plan.seconds + shards.reduce((sum, shard) => sum + shard.seconds, 0) + record.seconds;
  console.log(
    `\n1. ${rows.length} names of ${formatBytes(NAME_BYTES)}: ${one.run.outputs.shipped} tars, ` +
      formatBytes(Number(one.run.outputs.bytes)),
  );
  console.log(`   one job:              ${one.seconds.toFixed(2)} s`);
  console.log(`   plan-shards:          ${plan.seconds.toFixed(2)} s`);
  for (const [i, shard] of shards.entries()) {
    const entry = matrix.include[i];
    console.log(`   shard ${entry?.shard} (${entry?.names}, ${formatBytes(entry?.bytes ?? 0)}): ${shard.seconds.toFixed(2)} s`);
  }
  console.log(`   record-shards:        ${record.seconds.toFixed(2)} s`);
  console.log(`   sharded wall time (plan + slowest shard + record): ${wall.toFixed(2)} s = ${(wall / one.seconds).toFixed(2)} x one job`);
  console.log(
    `   sharded machine time (every job):                  ${machine.toFixed(2)} s = ${(machine / one.seconds).toFixed(2)} x one job`,
  );
}

/** The bytes of every file under `dir` now (0 while it does not exist). */
async function bytesUnder(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const sizes = await Promise.all(
    entries
      .filter((entry) => entry.isFile())
      .map((entry) =>
        lstat(join(entry.parentPath, entry.name)).then(
          (stats) => stats.size,
          () => 0,
        ),
      ),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

/** A job, and the most bytes its sync directory held at any sample. */
async function peakDisk(
  server: ActionsServer,
  rows: string[],
  inputs: Record<string, string>,
): Promise<{ peak: number; bytes: number; seconds: number }> {
  const syncDir = join(server.env({ runId: 1 }).RUNNER_TEMP as string, 'batch-serialize', inputs['cache-key-prefix'] as string);
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await bytesUnder(syncDir));
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    }
  })();
  try {
    const { run, seconds } = await job(server, ++runIds, rows, inputs);
    return { peak, bytes: Number(run.outputs.bytes), seconds };
  } finally {
    sampling = false;
    await sampler;
  }
}

async function diskWithAndWithoutDeletion(server: ActionsServer, rows: string[]): Promise<void> {
  const kept = await peakDisk(server, rows, { 'cache-key-prefix': 'disk-kept', 'keep-tars': 'true' });
  const deleted = await peakDisk(server, rows, { 'cache-key-prefix': 'disk-deleted' });
  console.log(`\n2. a ${formatBytes(kept.bytes)} run: ${rows.length} tars of about ${formatBytes(kept.bytes / rows.length)}`);
  console.log(`   keep-tars: true:  peak ${formatBytes(kept.peak)} in the sync directory (${kept.seconds.toFixed(1)} s)`);
  console.log(`   keep-tars: false: peak ${formatBytes(deleted.peak)} (${deleted.seconds.toFixed(1)} s)`);
  console.log(
    `   deletion uses ${(deleted.peak / kept.peak).toFixed(2)} x the disk; ` +
      `its peak is ${(deleted.peak / (kept.bytes / rows.length)).toFixed(2)} x one tar`,
  );
}

const [registry, server] = await Promise.all([startRegistry(), startActionsServer()]);
try {
  const rows = await pushNames(registry, 'app', NAMES, NAME_BYTES);
  const diskRows = await pushNames(registry, 'disk', DISK_NAMES, DISK_BYTES / DISK_NAMES);
  await oneJobAgainstShards(server, rows);
  await diskWithAndWithoutDeletion(server, diskRows);
} finally {
  await Promise.all([registry.stop(), server.stop()]);
}
