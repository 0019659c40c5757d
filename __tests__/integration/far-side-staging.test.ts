/**
 * A compressed tar's big blob staged in TMPDIR (tar-upload.ts, staging.ts) when the disk fills under it: that blob is
 * left to deserialize's second pass over the tar, which puts it there; the tar's other blobs go up meanwhile, and
 * nothing fails. TMPDIR is a tmpfs of 8 MiB (mounted: root), filled by another file once the first staged file is made.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { scanTar } from '../../src/core/archive/tar-scan.ts';
import { uploadFromTar, UploadsWhileChecking } from '../../src/core/far-side/tar-upload.ts';
import type { Descriptor } from '../../src/core/oci/descriptor.ts';
import { MemoryRegistry } from '../../src/core/oci/memory-store.ts';
import { makeImage, writeOciLayout, type ImageSet } from '../../testkit/images.ts';
import { runCli } from './support/cli.ts';
import { mountTmpfs, unmount } from './support/tmpfs.ts';

const MiB = 1024 * 1024;
let work: string;
let staging: string;
let image: ImageSet;
let tar: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bs-staging-'));
  image = await makeImage('staged', { layers: [2 * MiB, 2 * MiB, 2 * MiB] });
  const store = join(work, 'store');
  await writeOciLayout(store, image.blobs, [{ descriptor: image.root, tag: 'v1' }]);
  const batch = join(work, 'batch.csv');
  await writeFile(batch, `name,artifact\nstaged,ocidir://${store}:v1\n`);
  const serialized = await runCli([batch, join(work, 'sync'), '--compression', 'zstd']);
  expect(serialized.code, serialized.stderr).toBe(0);
  tar = join(work, 'sync', '000001-staged.tar.zst');
  staging = join(work, 'tmp');
  await mkdir(staging);
}, 60_000);
afterAll(async () => {
  delete process.env.TMPDIR;
  await unmount(staging);
  if (work) await rm(work, { recursive: true, force: true });
});

test('a blob whose staged file the disk filled under is left to the second pass; the others go up meanwhile', async () => {
  expect(process.getuid?.(), 'a TMPDIR that fills takes a tmpfs, which takes root').toBe(0);
  await mountTmpfs(staging, 8 * MiB);
  process.env.TMPDIR = staging; // os.tmpdir()
  const target = new MemoryRegistry().repository({ registry: 'far.example:5000', repository: 'staged' });
  const uploads = await UploadsWhileChecking.open(tar, [], target, async () => true);
  if (uploads === undefined) throw new Error(`${tar} could not be opened`);
  let filledUnder: Descriptor | undefined;
  const scan = await scanTar(tar, [], async (blob) => {
    const sink = await uploads.tap(blob);
    if (filledUnder === undefined && blob.size > MiB) {
      filledUnder = blob;
      await writeFile(join(staging, 'filler'), Buffer.alloc(8 * MiB)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOSPC') throw error;
      });
    }
    return sink;
  });
  expect(scan.problems).toEqual([]);
  expect(await uploads.settle()).toBeUndefined();
  const layers = [...image.blobs].filter(([, bytes]) => bytes.byteLength > MiB).map(([digest]) => digest);
  expect(filledUnder?.digest).toBe(layers[0]);
  expect([...uploads.uploaded.keys()].filter((digest) => layers.includes(digest)).sort()).toEqual(layers.slice(1).sort());

  await uploadFromTar(tar, [], target, new Map([[filledUnder?.digest as string, filledUnder as Descriptor]]));
  for (const digest of layers) expect(await target.blobExists(digest)).toBe(true);
});
