import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeserializeSettings } from '../../src/core/far-side/deserialize.ts';
import { runBatch } from '../../src/core/serialize/run.ts';
import { RegistryAndLayoutStorages } from '../../src/core/serialize/storages.ts';
import type { DedupScope } from '../../src/core/sync-dir/dedup-scope.ts';
import { mergeBlobs, tutorialImages, writeOciLayout, type TutorialImages } from '../../testkit/images.ts';
import { batchSettings } from './batch-settings.ts';

/** The far side's registry in these tests (an in-memory one) and the path each NAME is loaded under. */
export const FAR = 'far.example:5000';
export const DEST = { registry: FAR, path: 'mirror' };

/** Deserialize settings into DEST, dedup scope name, no scatter, unless `extra` says otherwise. */
export function farSettings(dir: string, extra: Partial<DeserializeSettings> = {}): DeserializeSettings {
  return { dir, destination: DEST, dedupScope: 'name', scatter: undefined, ...extra };
}

/** Far-side tests' scratch area: the tutorial's pair as an OCI layout, sync directories serialized from it, copies. */
export interface SyncDirFixture {
  work: string;
  images: TutorialImages;
  /** `ocidir://STORE:TAG` */
  ref(tag: string): string;
  /** One serialize run of these batch-list lines into `syncDir`. */
  serialize(syncDir: string, lines: string[], dedupScope?: DedupScope): Promise<void>;
  /** `work/NAME` with 000001-tools.tar (sources1) and 000002-tools.tar (sources2: leaves out grafana's blobs). */
  tutorialPair(name: string): Promise<string>;
  /** A fresh copy of a sync directory, to damage or load. */
  copyOf(dir: string): Promise<string>;
  remove(): Promise<void>;
}

export async function syncDirFixture(prefix: string): Promise<SyncDirFixture> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  const images = await tutorialImages();
  const store = join(work, 'store');
  await writeOciLayout(store, mergeBlobs([images.sources1, images.sources2]), [
    { descriptor: images.sources1.root, tag: 'sources1' },
    { descriptor: images.sources2.root, tag: 'sources2' },
  ]);
  let batches = 0;
  let copies = 0;
  const ref = (tag: string) => `ocidir://${store}:${tag}`;
  const serialize = async (syncDir: string, lines: string[], dedupScope: DedupScope = 'name') => {
    const batchFile = join(work, `batch-${++batches}.csv`);
    await writeFile(batchFile, `name,artifact\n${lines.join('\n')}\n`);
    const storages = new RegistryAndLayoutStorages({ insecureRegistries: [] });
    try {
      await runBatch(batchSettings(batchFile, syncDir, { dedupScope }), storages);
    } finally {
      await storages.close();
    }
  };
  return {
    work,
    images,
    ref,
    serialize,
    async tutorialPair(name) {
      const dir = join(work, name);
      await serialize(dir, [`tools,${ref('sources1')}`]);
      await serialize(dir, [`tools,${ref('sources2')}`]);
      return dir;
    },
    async copyOf(dir) {
      const copy = join(work, `copy-${++copies}`);
      await cp(dir, copy, { recursive: true });
      return copy;
    },
    remove: () => rm(work, { recursive: true, force: true }),
  };
}

/** Every path under `dir`, relative and sorted: a sync directory's layout at a glance (`batch-serialize/…` included). */
export async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}
