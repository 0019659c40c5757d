import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { repositories } from '../../testkit/far-registry.ts';
import { pushImageSet, tutorialImages } from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';
import { runCli } from './support/cli.ts';
import { runCliUntil, snapshot } from './support/crash.ts';

/**
 * Two overlapping runs on one sync directory (two cron jobs): the first is held mid-tar (it stops itself at a
 * crash point, src/core/crash-point.ts, and is let go on later), and everything else that comes meanwhile is refused
 * with the holder named, touching nothing.
 */
let registry: RunningRegistry;
let work: string;
let batch: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  registry = await startRegistry();
  const images = await tutorialImages();
  await pushImageSet(registry.url, 'gather', 'sources1', images.sources1);
  await pushImageSet(registry.url, 'gather', 'sources2', images.sources2);
  work = await mkdtemp(join(tmpdir(), 'bs-overlap-'));
  env = { ...process.env, NODE_COMPILE_CACHE: join(work, 'compile-cache') };
  batch = join(work, 'batch.csv');
  await writeFile(batch, `name,artifact\nops,${registry.host}/gather:sources1\ntools,${registry.host}/gather:sources2\n`);
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('overlapping runs', () => {
  test('while a run writes its second tar, serialize, a dry run, verify and deserialize are refused; it completes', async () => {
    const alone = join(work, 'alone');
    const sync = join(work, 'sync');
    const [uninterrupted, first] = await Promise.all([
      runCli([batch, alone], { env }).then(async (result) => {
        expect(result.code, result.stderr).toBe(0);
        return snapshot(alone);
      }),
      runCliUntil('tar-writing:2', [batch, sync], env),
    ]);
    const during = await snapshot(sync);
    expect(Object.keys(during)).toEqual([
      '000001-ops.tar',
      'batch-serialize/',
      'batch-serialize/000001-ops.tar.sha256',
      'batch-serialize/000002-tools.tar.partial',
      'batch-serialize/record-keeping.ledger.jsonl',
      'batch-serialize.lock.csv',
      'record-keeping.csv',
    ]);

    const others = await Promise.all(
      [
        [batch, sync],
        [batch, sync, '--dry-run'],
        ['verify', sync],
        ['deserialize', sync, `${registry.host}/mirror`],
      ].map((args) => runCli(args, { env })),
    );
    for (const other of others) {
      expect(other.code, other.stderr).toBe(1);
      expect(other.stderr).toMatch(
        `batch-serialize: error: another run is using ${sync} (pid ${first.pid} on ${hostname()}): serialize since `,
      );
    }
    expect(await snapshot(sync)).toEqual(during);
    expect(await repositories(registry.url)).not.toContain('mirror/ops');

    expect(await first.resume()).toBe(0);
    expect(await snapshot(sync)).toEqual(uninterrupted);
    const verified = await runCli(['verify', sync], { env });
    expect(verified.code, verified.stdout).toBe(0);
  });
});
