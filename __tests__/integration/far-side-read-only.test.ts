import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deserializeSyncDir, type DeserializeSettings } from '../../src/core/far-side/deserialize.ts';
import { MemoryRegistry } from '../../src/core/oci/memory-store.ts';
import { runBatch } from '../../src/core/serialize/run.ts';
import { RegistryAndLayoutStorages } from '../../src/core/serialize/storages.ts';
import { mergeBlobs, tutorialImages, writeOciLayout } from '../../testkit/images.ts';
import { batchSettings } from '../support/batch-settings.ts';

/**
 * A far side whose sync directory is on read-only media, for real: a tmpfs mounted and remounted read-only when
 * this runs as root and may mount; otherwise (not root) a directory of mode 0555, which the process cannot write.
 */

const run = promisify(execFile);
const FAR = 'far.example:5000';

let work: string;
let readOnly: string;
/** The same sync directory, writable. */
let writable: string;
let media: 'read-only tmpfs' | 'mode 0555' | undefined;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bs-ro-'));
  const images = await tutorialImages();
  const store = join(work, 'store');
  await writeOciLayout(store, mergeBlobs([images.sources1]), [{ descriptor: images.sources1.root, tag: 'sources1' }]);
  const sync = join(work, 'sync');
  writable = sync;
  const batchFile = join(work, 'batch.csv');
  await writeFile(batchFile, `name,artifact\ntools,ocidir://${store}:sources1\n`);
  const storages = new RegistryAndLayoutStorages({ insecureRegistries: [] });
  try {
    await runBatch(batchSettings(batchFile, sync), storages);
  } finally {
    await storages.close();
  }
  readOnly = join(work, 'media');
  await mkdir(readOnly);
  if (process.getuid?.() === 0) {
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', readOnly]);
      await cp(sync, readOnly, { recursive: true });
      await run('mount', ['-o', 'remount,ro', readOnly]);
      media = 'read-only tmpfs';
    } catch (error) {
      await run('umount', [readOnly]).catch(() => undefined);
      console.warn(`cannot mount a read-only tmpfs here (${(error as Error).message.trim()}): the read-only tests fail`);
    }
  } else {
    await cp(sync, readOnly, { recursive: true });
    await chmod(readOnly, 0o555);
    media = 'mode 0555';
  }
});
afterAll(async () => {
  if (media === 'read-only tmpfs') await run('umount', [readOnly]).catch(() => undefined);
  if (media === 'mode 0555') await chmod(readOnly, 0o755).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

const settings = (extra: Partial<DeserializeSettings> = {}): DeserializeSettings => ({
  dir: readOnly,
  destination: { registry: FAR, path: 'mirror' },
  dedupScope: 'name',
  scatter: undefined,
  ...extra,
});

describe('deserialize from read-only media', () => {
  test('the record in DIR cannot be written: refused before anything is pushed, saying read-only', async () => {
    expect(media, 'read-only media could not be made here').toBeDefined();
    const registry = new MemoryRegistry();
    // Before: the whole tar was pushed, then successful-syncs.csv.tmp-PID failed with EROFS, and every rerun pushed it again.
    await expect(deserializeSyncDir(settings(), registry)).rejects.toThrow(/read-only/);
    expect(registry.repositories()).toEqual([]);
  });

  test('a record kept on read-only media: refused before anything is pushed, naming its directory', async () => {
    expect(media, 'read-only media could not be made here').toBeDefined();
    const registry = new MemoryRegistry();
    const record = join(readOnly, 'successful-syncs.csv');
    const code = media === 'read-only tmpfs' ? 'EROFS' : 'EACCES';
    await expect(deserializeSyncDir({ ...settings({ recordPath: record }), dir: writable }, registry)).rejects.toThrow(
      `cannot record loaded tars in ${record}: ${readOnly} is read-only (${code}); nothing was pushed. ` +
        'Keep the record elsewhere (--successful-syncs FILE) or load from a writable copy',
    );
    expect(registry.repositories()).toEqual([]);
  });

  // Needs the sync directory's lock to read a directory it cannot write when the record lives elsewhere.
  test('with the record elsewhere it loads, records there, and a rerun skips', async () => {
    expect(media, 'read-only media could not be made here').toBeDefined();
    const registry = new MemoryRegistry();
    const record = join(work, 'successful-syncs.csv');
    const result = await deserializeSyncDir(settings({ recordPath: record }), registry);
    expect(result.loaded.map((tar) => tar.reference)).toEqual([`${FAR}/mirror/tools:sources1`]);
    expect((await readFile(record, 'utf8')).split('\n')[1]).toMatch(/^000001-tools\.tar,far\.example:5000\/mirror\/tools:sources1,/);
    const rerun = await deserializeSyncDir(settings({ recordPath: record }), registry);
    expect(rerun.skipped).toEqual(['000001-tools.tar']);
  });
});

describe('serialize onto read-only media', () => {
  test('a new sync directory there is refused in words: read-only, not ENOENT', async () => {
    expect(media, 'read-only media could not be made here').toBeDefined();
    const target = join(readOnly, 'new-sync');
    const batchFile = join(work, 'batch.csv');
    const storages = new RegistryAndLayoutStorages({ insecureRegistries: [] });
    try {
      const run = runBatch(batchSettings(batchFile, target), storages);
      const why = media === 'read-only tmpfs' ? 'the file system is read-only' : 'permission denied';
      await expect(run).rejects.toThrow(`${target}: cannot create the sync directory: ${why}`);
    } finally {
      await storages.close();
    }
  });
});
