/** `vnd.act3-ace.data.extra-manifests` on a nested index: followed wherever ace-dt follows it (on every index). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { scanTar } from '../../src/core/archive/tar-scan.ts';
import { verifySyncDir } from '../../src/core/far-side/verify.ts';
import { runBatch } from '../../src/core/serialize/run.ts';
import { RegistryAndLayoutStorages } from '../../src/core/serialize/storages.ts';
import {
  makeExtraManifestsIndex,
  makeGather,
  manifestsChildrenFirst,
  tutorialImages,
  writeOciLayout,
  type ImageSet,
} from '../../testkit/images.ts';
import { batchSettings } from '../support/batch-settings.ts';

let work: string;
/** A gather whose one child is an index that lists nothing itself and names caddy's index in extra-manifests. */
let artifact: ImageSet;
let caddy: ImageSet;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bs-extra-'));
  caddy = (await tutorialImages()).caddy;
  artifact = makeGather([{ source: 'docker.io/library/caddy:2.7.6', image: makeExtraManifestsIndex(caddy) }]);
});
afterAll(() => rm(work, { recursive: true, force: true }));

test("serialize carries the nested index's extra manifests, and verify accepts the tar", async () => {
  const store = join(work, 'store');
  await writeOciLayout(store, artifact.blobs, [{ descriptor: artifact.root, tag: 'nested' }]);
  const batchFile = join(work, 'batch.csv');
  await writeFile(batchFile, `name,artifact\ncaddy,ocidir://${store}:nested\n`);
  const sync = join(work, 'sync');
  const storages = new RegistryAndLayoutStorages({ insecureRegistries: [] });
  try {
    await runBatch(batchSettings(batchFile, sync), storages);
  } finally {
    await storages.close();
  }

  const scan = await scanTar(join(sync, '000001-caddy.tar'));
  expect(scan.problems).toEqual([]);
  // Before: the walk stopped at the middle index; caddy's index, its two images and their blobs were left behind.
  for (const digest of caddy.blobs.keys()) expect(scan.held.has(digest)).toBe(true);
  expect(scan.held.size).toBe(artifact.blobs.size);
  expect(manifestsChildrenFirst(artifact).map((descriptor) => descriptor.digest)).toContain(caddy.root.digest);

  const report = await verifySyncDir({ dir: sync, dedupScope: 'name', trackerFilename: 'record-keeping.csv' });
  expect(report.ok).toBe(true);
});
