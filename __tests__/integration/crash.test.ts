import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runBatch, type BatchSettings } from '../../src/core/serialize/run.ts';
import { RegistryAndLayoutStorages } from '../../src/core/serialize/storages.ts';
import { runCli } from './support/cli.ts';
import { runCliUntil, snapshot } from './support/crash.ts';
import { pushImageSet, tutorialImages } from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';
import { batchSettings } from '../support/batch-settings.ts';

/**
 * kill -9 of the real CLI at every step of writing a tar and recording it (src/core/crash-point.ts stops it there,
 * then it gets SIGKILL), plain and zstd: a plain rerun must leave the very directory an uninterrupted run leaves.
 */
let registry: RunningRegistry;
let work: string;
/** Node's compile cache for the ~40 CLI runs: each starts in about half the time. */
let env: NodeJS.ProcessEnv;
let batch: string;
const COMPRESSIONS = ['none', 'zstd'] as const;
type Compression = (typeof COMPRESSIONS)[number];
/** What an uninterrupted run leaves, per compression. */
const uninterrupted = new Map<Compression, Record<string, string>>();

beforeAll(async () => {
  registry = await startRegistry();
  const images = await tutorialImages();
  await pushImageSet(registry.url, 'gather', 'sources1', images.sources1);
  await pushImageSet(registry.url, 'gather', 'sources2', images.sources2);
  work = await mkdtemp(join(tmpdir(), 'bs-crash-'));
  env = { ...process.env, NODE_COMPILE_CACHE: join(work, 'compile-cache') };
  batch = join(work, 'batch.csv');
  // Two tars: 000001-ops (sources1), 000002-tools (sources2, leaving out what sources1 shares only under scope all).
  await writeFile(batch, `name,artifact\nops,${registry.host}/gather:sources1\ntools,${registry.host}/gather:sources2\n`);
  await Promise.all(
    COMPRESSIONS.map(async (compression) => {
      const sync = join(work, `uninterrupted-${compression}`);
      const result = await runCli([batch, sync, '--compression', compression], { env });
      expect(result.code, result.stderr).toBe(0);
      expect((await runCli(['verify', sync], { env })).code).toBe(0);
      uninterrupted.set(compression, await snapshot(sync));
    }),
  );
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

let cases = 0;
const freshSync = () => join(work, `sync-${++cases}`);

/**
 * The steps, for the n-th tar: mid-write, `batch-serialize/NAME.partial` complete, the sidecar's temp file, the sidecar
 * (`batch-serialize/NAME.sha256`), the rename to `NAME`, the ledger's temp file, the ledger, the tracker's temp file,
 * the tracker (= between tars).
 */
function steps(n: number): string[] {
  return [
    `tar-writing:${n}`,
    `tar-written:${n}`,
    `temp-written:${3 * n - 2}`,
    `sidecar-written:${n}`,
    `renamed:${n}`,
    `temp-written:${3 * n - 1}`,
    `ledger-written:${n}`,
    `temp-written:${3 * n}`,
    `tracker-written:${n}`,
  ];
}

// Plain: every step of the first tar (its tracker-written is the gap between tars) and a kill holding only the
// lock; zstd: every step of the second tar. ~19 cases, two CLI runs each.
const CASES: Array<[Compression, string]> = [
  ['none', 'locked:1'],
  ...steps(1).map((point): [Compression, string] => ['none', point]),
  ...steps(2).map((point): [Compression, string] => ['zstd', point]),
];

describe.concurrent('kill -9 at every step, then a plain rerun', () => {
  test.each(CASES)('%s, killed at %s: the rerun ends where an uninterrupted run ends', async (compression, point) => {
    const sync = freshSync();
    const args = [batch, sync, '--compression', compression];
    const stopped = await runCliUntil(point, args, env);
    await stopped.kill();
    const rerun = await runCli(args, { env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).not.toMatch(/error/);
    // Same files, same bytes, same tracker and ledger (and so verify passes, as it does on the uninterrupted one).
    expect(await snapshot(sync)).toEqual(uninterrupted.get(compression));
  });
});

describe('an unrecorded file in the way', () => {
  test('is moved aside, never deleted; a tar numbered among the run’s but not its own too; the run goes on', async () => {
    const sync = freshSync();
    // As a run of this version leaves them: the tars at the top, their sidecars in batch-serialize/.
    await mkdir(join(sync, 'batch-serialize'), { recursive: true });
    await writeFile(join(sync, '000001-ops.tar'), 'not the tar');
    await writeFile(join(sync, 'batch-serialize', '000001-ops.tar.sha256'), `${'0'.repeat(64)}  000001-ops.tar\n`);
    await writeFile(join(sync, '000002-other.tar'), 'another tar');
    // The tar of sources1 under the name sources2 gets, with a sidecar that matches it: whole, but not this run's.
    const reference = join(work, 'uninterrupted-none');
    await writeFile(join(sync, '000002-tools.tar'), await readFile(join(reference, '000001-ops.tar')));
    await writeFile(
      join(sync, 'batch-serialize', '000002-tools.tar.sha256'),
      (await readFile(join(reference, 'batch-serialize', '000001-ops.tar.sha256'), 'utf8')).replace('ops', 'tools'),
    );
    await writeFile(join(sync, 'batch-serialize', '000003-tools.tar.sha256'), 'a sidecar whose tar never got its name\n');

    const result = await runCli([batch, sync], { env });
    expect(result.code, result.stderr).toBe(0);
    const [aside, ...more] = await readdir(join(sync, 'moved-aside'));
    expect(more).toEqual([]);
    expect((await readdir(join(sync, 'moved-aside', aside as string))).sort()).toEqual([
      '000001-ops.tar',
      '000001-ops.tar.sha256',
      '000002-other.tar',
      '000002-tools.tar',
      '000002-tools.tar.sha256',
    ]);
    expect(await readFile(join(sync, 'moved-aside', aside as string, '000001-ops.tar'), 'utf8')).toBe('not the tar');
    const { 'moved-aside/': _folder, ...rest } = await snapshot(sync);
    expect(Object.fromEntries(Object.entries(rest).filter(([name]) => !name.startsWith('moved-aside/')))).toEqual(
      uninterrupted.get('none'),
    );
  });
});

describe('a killed run’s tar compressed differently', () => {
  test('the same tar inside, its sidecar matching: recorded as it is (zstd’s bytes depend on how its input came)', async () => {
    const sync = freshSync();
    const args = [batch, sync, '--compression', 'zstd'];
    await (await runCliUntil('renamed:1', args, env)).kill();
    const path = join(sync, '000001-ops.tar.zst');
    const recompressed = zstdCompressSync(zstdDecompressSync(await readFile(path)), {
      params: { [constants.ZSTD_c_compressionLevel]: 19 },
    });
    await writeFile(path, recompressed);
    const hex = createHash('sha256').update(recompressed).digest('hex');
    await writeFile(join(sync, 'batch-serialize', '000001-ops.tar.zst.sha256'), `${hex}  000001-ops.tar.zst\n`);

    const rerun = await runCli(args, { env });
    expect(rerun.code, rerun.stderr).toBe(0);
    const reference = uninterrupted.get('zstd') as Record<string, string>;
    const now = await snapshot(sync);
    expect(Object.keys(now)).toEqual(Object.keys(reference));
    expect(now['000001-ops.tar.zst']).toBe(hex);
    expect(now['000001-ops.tar.zst']).not.toBe(reference['000001-ops.tar.zst']);
    for (const name of ['000002-tools.tar.zst', 'batch-serialize/000002-tools.tar.zst.sha256', 'record-keeping.csv'])
      expect(now[name]).toBe(reference[name]);
    const ledger = await readFile(join(sync, 'batch-serialize', 'record-keeping.ledger.jsonl'), 'utf8');
    expect(JSON.parse(ledger.split('\n')[0] as string)).toMatchObject({ tar: { sha256: `sha256:${hex}`, bytes: recompressed.byteLength } });
    expect((await runCli(['verify', sync], { env })).code).toBe(0);
  });
});

describe('a first run says so', () => {
  const settings = (syncDir: string, dryRun = false): BatchSettings => batchSettings(batch, syncDir, { dryRun, concurrency: 4 });

  test('"no tracker in DIR" before anything is written (a typo in the path ships everything as 000001)', async () => {
    const storages = new RegistryAndLayoutStorages({ insecureRegistries: [] });
    try {
      const sync = join(freshSync(), 'typo');
      const events: string[] = [];
      const hooks = { note: (message: string) => events.push(`note: ${message}`), tarStarted: () => events.push('tar') };
      await runBatch(settings(sync, true), storages, hooks);
      expect(events).toEqual([`note: no tracker in ${sync}: a first run, everything is shipped`]);
      events.length = 0;
      await runBatch(settings(sync), storages, hooks);
      expect(events).toEqual([`note: no tracker in ${sync}: a first run, everything is shipped`, 'tar', 'tar']);
      events.length = 0;
      await runBatch(settings(sync), storages, hooks);
      expect(events).toEqual([]);
    } finally {
      await storages.close();
    }
  });
});
