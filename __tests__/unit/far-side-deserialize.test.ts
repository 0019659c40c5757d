import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { deserializeSyncDir } from '../../src/core/far-side/deserialize.ts';
import type { DeserializeResult, DeserializeSettings, LoadedTar } from '../../src/core/far-side/deserialize.ts';
import { sidecarPath } from '../../src/core/archive/sidecar.ts';
import { MemoryRegistry, type MemoryStore } from '../../src/core/oci/memory-store.ts';
import type { DedupScope } from '../../src/core/sync-dir/dedup-scope.ts';
import { digestsOf } from '../../testkit/far-registry.ts';
import { manifestsChildrenFirst } from '../../testkit/images.ts';
import type { ImageSet, TutorialImages } from '../../testkit/images.ts';
import { DEST, FAR, syncDirFixture, type SyncDirFixture } from '../support/sync-dir-fixture.ts';
import { visibleIn } from '../support/visible.ts';

let fixture: SyncDirFixture;
let work: string;
let images: TutorialImages;
/** 000001-tools.tar (sources1), 000002-tools.tar (sources2: leaves out grafana's blobs), by --dedup-scope name. */
let byName: string;
/** 000001-ops.tar (sources1), 000002-tools.tar (sources2: leaves out grafana's blobs, which ops shipped), by --dedup-scope all. */
let byAll: string;

beforeAll(async () => {
  fixture = await syncDirFixture('bs-far-unit-');
  ({ work, images } = fixture);
  byName = await fixture.tutorialPair('by-name');
  byAll = join(work, 'by-all');
  await fixture.serialize(byAll, [`ops,${fixture.ref('sources1')}`], 'all');
  await fixture.serialize(byAll, [`ops,${fixture.ref('sources1')}`, `tools,${fixture.ref('sources2')}`], 'all');
});
afterAll(() => fixture.remove());

const copyOf = (dir: string) => fixture.copyOf(dir);

function settings(dir: string, dedupScope: DedupScope = 'name', scatter?: DeserializeSettings['scatter']): DeserializeSettings {
  return { dir, destination: DEST, dedupScope, scatter };
}

/** The digests of a set's blobs that are not manifests, walk order aside. */
function blobsOf(set: ImageSet): string[] {
  const manifests = new Set(manifestsChildrenFirst(set).map((descriptor) => descriptor.digest));
  return [...set.blobs.keys()].filter((digest) => !manifests.has(digest));
}

function bytesOf(set: ImageSet, digests: string[]): number {
  return digests.reduce((sum, digest) => sum + set.blobs.get(digest)!.byteLength, 0);
}

/** Puts a set into a store as a registry would hold it: blobs, then manifests children first, the root tagged. */
async function seed(store: MemoryStore, set: ImageSet, tag: string): Promise<void> {
  for (const digest of blobsOf(set)) {
    const bytes = set.blobs.get(digest)!;
    await store.pushBlob({ mediaType: 'application/octet-stream', digest, size: bytes.byteLength }, bytes);
  }
  for (const descriptor of manifestsChildrenFirst(set)) {
    const reference = descriptor.digest === set.root.digest ? tag : descriptor.digest;
    await store.pushManifest(reference, descriptor.mediaType, set.blobs.get(descriptor.digest)!);
  }
}

/** The loaded tars, each with only the given fields. */
function pick<K extends keyof LoadedTar>(result: DeserializeResult, ...keys: K[]): Array<Pick<LoadedTar, K>> {
  return result.loaded.map((loaded) => Object.fromEntries(keys.map((key) => [key, loaded[key]])) as Pick<LoadedTar, K>);
}

async function syncRows(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, 'successful-syncs.csv'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => line.split(',').slice(0, 2).join(','));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

const grafanaOnly = () => blobsOf(images.grafana);
const caddyOnly = () => blobsOf(images.sources2).filter((digest) => !grafanaOnly().includes(digest));

describe('deserialize into an in-memory registry', () => {
  test('each tar into DEST/NAME: blobs once, the root tagged, counted, recorded in successful-syncs.csv', async () => {
    const dir = await copyOf(byName);
    const registry = new MemoryRegistry();
    const result = await deserializeSyncDir(settings(dir), registry);
    expect(result.skipped).toEqual([]);
    const sources1 = blobsOf(images.sources1);
    expect(result.loaded).toEqual([
      {
        syncName: '000001-tools.tar',
        name: 'tools',
        reference: `${FAR}/mirror/tools:sources1`,
        digest: images.sources1.root.digest,
        uploaded: sources1.length,
        uploadedBytes: bytesOf(images.sources1, sources1),
        mounted: 0,
        present: 0,
        manifestsPushed: manifestsChildrenFirst(images.sources1).length,
        scattered: [],
      },
      {
        syncName: '000002-tools.tar',
        name: 'tools',
        reference: `${FAR}/mirror/tools:sources2`,
        digest: images.sources2.root.digest,
        uploaded: caddyOnly().length,
        uploadedBytes: bytesOf(images.sources2, caddyOnly()),
        mounted: 0,
        present: grafanaOnly().length,
        // grafana's manifest is there already; the gather, caddy's index and its two manifests are not
        manifestsPushed: 4,
        scattered: [],
      },
    ]);
    expect(registry.repositories()).toEqual([`${FAR}/mirror/tools`]);
    const tools = registry.repository({ registry: FAR, repository: 'mirror/tools' });
    expect(new Set(tools.digests())).toEqual(new Set([...digestsOf(images.sources1), ...digestsOf(images.sources2)]));
    expect(tools.tags()).toEqual(['sources1', 'sources2']);
    expect((await tools.resolve('sources2')).digest).toBe(images.sources2.root.digest);
    expect(await syncRows(dir)).toEqual([
      'filename,artifact',
      `000001-tools.tar,${FAR}/mirror/tools:sources1`,
      `000002-tools.tar,${FAR}/mirror/tools:sources2`,
    ]);
  });

  test('a tar leaving out blobs the destination lacks is refused, no manifest pushed, naming the blobs and the tar to load', async () => {
    const dir = await copyOf(byName);
    await rm(join(dir, '000001-tools.tar'));
    const registry = new MemoryRegistry();
    const failure = deserializeSyncDir(settings(dir), registry);
    await expect(failure).rejects.toThrow(
      new RegExp(
        `^000002-tools\\.tar: refused, no manifest or tag of it was pushed: it leaves out 5 blob\\(s\\) ` +
          `that ${FAR}/mirror/tools does not hold; ` +
          'an earlier tar held them and is not loaded: load 000001-\\*\\.tar first:\\n',
      ),
    );
    const message = await failure.then(
      () => '',
      (error: Error) => error.message,
    );
    const listed = message
      .split('\n')
      .slice(1)
      .map((line) => line.trim());
    expect(listed.map((line) => line.split(' ')[0]).sort()).toEqual(grafanaOnly().sort());
    const described = /^sha256:[0-9a-f]{64} \(application\/vnd\.docker\.[a-z0-9.]+(\.tar\.gzip|\+json), \d+ bytes\)$/;
    for (const line of listed) expect(line).toMatch(described);
    expect(message).not.toMatch(/rerun/);
    expect(await visibleIn(registry)).toEqual([]);
    expect(await exists(join(dir, 'successful-syncs.csv'))).toBe(false);
  });

  test('a tar is read once: its blobs go up while it is checked, so one refused at its end leaves only unreferenced blobs', async () => {
    const dir = await copyOf(byName);
    await rm(join(dir, '000002-tools.tar'));
    const sidecar = sidecarPath(join(dir, '000001-tools.tar'));
    const right = await readFile(sidecar, 'utf8');
    await writeFile(sidecar, `${'0'.repeat(64)}${right.slice(64)}`);
    const registry = new MemoryRegistry();
    await expect(deserializeSyncDir(settings(dir), registry)).rejects.toThrow(
      /^000001-tools\.tar: refused, the tar is damaged \(no manifest or tag of it was pushed\):\n {2}checksum mismatch/,
    );
    // The sidecar is checked against the whole file, at its end: every blob went up meanwhile, nothing points at them.
    const tools = registry.repository({ registry: FAR, repository: 'mirror/tools' });
    expect(new Set(tools.digests())).toEqual(new Set(blobsOf(images.sources1)));
    expect(await visibleIn(registry)).toEqual([]);

    await writeFile(sidecar, right);
    const result = await deserializeSyncDir(settings(dir), registry);
    expect(pick(result, 'uploaded', 'present', 'manifestsPushed')).toEqual([
      { uploaded: 0, present: blobsOf(images.sources1).length, manifestsPushed: manifestsChildrenFirst(images.sources1).length },
    ]);
    expect(tools.tags()).toEqual(['sources1']);
  });

  test('a registry that fails while the tar is checked fails the load as itself, not as a damaged tar', async () => {
    const dir = await copyOf(byName);
    const registry = new MemoryRegistry();
    const tools = registry.repository({ registry: FAR, repository: 'mirror/tools' });
    vi.spyOn(tools, 'blobExists').mockRejectedValue(new Error(`${FAR}: connection refused`));
    await expect(deserializeSyncDir(settings(dir), registry)).rejects.toThrow(new RegExp(`^${FAR}: connection refused$`));
    expect(await visibleIn(registry)).toEqual([]);
  });

  test('blobs a tar leaves out that DEST/NAME holds already are not needed from the tar', async () => {
    const dir = await copyOf(byName);
    await rm(join(dir, '000001-tools.tar'));
    const registry = new MemoryRegistry();
    await seed(registry.repository({ registry: FAR, repository: 'mirror/tools' }), images.grafana, 'grafana');
    const result = await deserializeSyncDir(settings(dir), registry);
    expect(pick(result, 'syncName', 'uploaded', 'present', 'mounted')).toEqual([
      { syncName: '000002-tools.tar', uploaded: caddyOnly().length, present: grafanaOnly().length, mounted: 0 },
    ]);
    expect(await syncRows(dir)).toEqual(['filename,artifact', `000002-tools.tar,${FAR}/mirror/tools:sources2`]);
  });

  test('in one run, a blob an earlier tar put in another repository of DEST is mounted from there', async () => {
    const dir = await copyOf(byAll);
    const registry = new MemoryRegistry();
    const downloads = vi.spyOn(registry.repository({ registry: FAR, repository: 'mirror/ops' }), 'fetchBlob');
    const result = await deserializeSyncDir(settings(dir, 'name'), registry);
    expect(pick(result, 'syncName', 'uploaded', 'mounted', 'present')).toEqual([
      { syncName: '000001-ops.tar', uploaded: blobsOf(images.sources1).length, mounted: 0, present: 0 },
      { syncName: '000002-tools.tar', uploaded: caddyOnly().length, mounted: grafanaOnly().length, present: 0 },
    ]);
    expect(downloads).not.toHaveBeenCalled();
    expect(registry.repositories()).toEqual([`${FAR}/mirror/ops`, `${FAR}/mirror/tools`]);
  });

  test('--dedup-scope all: a blob another name shipped in an earlier run is found in its repository, mounted (name refuses)', async () => {
    const dir = await copyOf(byAll);
    const registry = new MemoryRegistry();
    const syncs = join(dir, 'successful-syncs.csv');
    await rename(join(dir, '000002-tools.tar'), join(work, `aside-${basename(dir)}.tar`));
    await deserializeSyncDir(settings(dir, 'name'), registry);
    await rename(join(work, `aside-${basename(dir)}.tar`), join(dir, '000002-tools.tar'));
    await expect(deserializeSyncDir(settings(dir, 'name'), registry)).rejects.toThrow(
      `000002-tools.tar: refused, no manifest or tag of it was pushed: it leaves out 5 blob(s) that ${FAR}/mirror/tools does not hold; ` +
        'an earlier tar of tools held them, but none is missing from the numbering here: was it loaded into another destination, ' +
        'or is --dedup-scope name wrong here (the tar records --dedup-scope all)?:\n',
    );
    await expect(deserializeSyncDir(settings(dir, 'name'), registry)).rejects.toThrow(
      new RegExp(`\\(the tars before it are recorded in ${syncs.replace(/[.]/g, '\\.')}: a rerun resumes with 000002-tools\\.tar\\)$`),
    );
    expect(await visibleIn(registry)).toEqual([`${FAR}/mirror/ops`]);

    const ops = registry.repository({ registry: FAR, repository: 'mirror/ops' });
    const downloads = vi.spyOn(ops, 'fetchBlob');
    const result = await deserializeSyncDir(settings(dir, 'all'), registry);
    expect(result.skipped).toEqual(['000001-ops.tar']);
    // The refused run left caddy's blobs in mirror/tools (uploaded while the tar was checked): there now, not again.
    expect(pick(result, 'syncName', 'uploaded', 'mounted', 'present')).toEqual([
      { syncName: '000002-tools.tar', uploaded: 0, mounted: grafanaOnly().length, present: caddyOnly().length },
    ]);
    expect(downloads).not.toHaveBeenCalled(); // mounted, not streamed through
    const tools = registry.repository({ registry: FAR, repository: 'mirror/tools' });
    expect(new Set(tools.digests())).toEqual(digestsOf(images.sources2));
    expect(await syncRows(dir)).toEqual([
      'filename,artifact',
      `000001-ops.tar,${FAR}/mirror/ops:sources1`,
      `000002-tools.tar,${FAR}/mirror/tools:sources2`,
    ]);
  });

  test("--dedup-scope all, the other name's tar missing: refused, naming any repository under DEST", async () => {
    const dir = await copyOf(byAll);
    await rm(join(dir, '000001-ops.tar'));
    const registry = new MemoryRegistry();
    await expect(deserializeSyncDir(settings(dir, 'all'), registry)).rejects.toThrow(
      '000002-tools.tar: refused, no manifest or tag of it was pushed: it leaves out 5 blob(s) that ' +
        `any repository under ${FAR}/mirror does not hold; an earlier tar held them and is not loaded: load 000001-*.tar first:\n`,
    );
    expect(await visibleIn(registry)).toEqual([]);
  });

  test('a tar whose name cannot be a repository is refused', async () => {
    const dir = await copyOf(byName);
    await rename(join(dir, '000001-tools.tar'), join(dir, '000001-Tools.tar'));
    await expect(deserializeSyncDir(settings(dir), new MemoryRegistry())).rejects.toThrow(
      /^000001-Tools\.tar: invalid reference "far\.example:5000\/mirror\/Tools": bad repository path component "Tools"/,
    );
  });
});

describe('successful-syncs.csv: skip and resume', () => {
  test('a rerun skips every tar recorded for this destination and opens no repository', async () => {
    const dir = await copyOf(byName);
    const registry = new MemoryRegistry();
    await deserializeSyncDir(settings(dir), registry);
    const opened = vi.spyOn(registry, 'repository');
    const rerun = await deserializeSyncDir(settings(dir), registry);
    expect(rerun).toEqual({ loaded: [], skipped: ['000001-tools.tar', '000002-tools.tar'], rescattered: [], scattered: [] });
    expect(opened).not.toHaveBeenCalled();
    expect((await syncRows(dir)).length).toBe(3);
  });

  test('a tar recorded for another destination is loaded; one recorded without an artifact (old ace-dt) is skipped', async () => {
    const dir = await copyOf(byName);
    const elsewhere = '000001-tools.tar,other.example/mirror/tools:sources1,2024-01-01T00:00:00Z';
    await writeFile(join(dir, 'successful-syncs.csv'), `filename,artifact,timestamp\n${elsewhere}\n`);
    const result = await deserializeSyncDir(settings(dir), new MemoryRegistry());
    expect(result.skipped).toEqual([]);
    expect(result.loaded.map((loaded) => loaded.syncName)).toEqual(['000001-tools.tar', '000002-tools.tar']);

    const old = await copyOf(byName);
    await writeFile(join(old, 'successful-syncs.csv'), '000001-tools.tar,2024-01-01T00:00:00Z\n');
    const registry = new MemoryRegistry();
    await seed(registry.repository({ registry: FAR, repository: 'mirror/tools' }), images.sources1, 'sources1');
    const continued = await deserializeSyncDir(settings(old), registry);
    expect(continued.skipped).toEqual(['000001-tools.tar']);
    expect(pick(continued, 'syncName', 'present')).toEqual([{ syncName: '000002-tools.tar', present: grafanaOnly().length }]);
  });

  test('ace-dt loaded earlier tars into DEST itself (recorded DEST:NAME): skipped, the blobs left out mounted from DEST', async () => {
    const dir = await copyOf(byName);
    const byAceDt = `000001-tools.tar,${FAR}/mirror:tools,2024-01-01T00:00:00Z`;
    await writeFile(join(dir, 'successful-syncs.csv'), `filename,artifact,timestamp\n${byAceDt}\n`);
    const registry = new MemoryRegistry();
    await seed(registry.repository({ registry: FAR, repository: 'mirror' }), images.sources1, 'tools');
    const result = await deserializeSyncDir(settings(dir), registry);
    expect(result.skipped).toEqual(['000001-tools.tar']);
    expect(pick(result, 'syncName', 'uploaded', 'mounted')).toEqual([
      { syncName: '000002-tools.tar', uploaded: caddyOnly().length, mounted: grafanaOnly().length },
    ]);
    expect(await syncRows(dir)).toEqual([
      'filename,artifact',
      `000001-tools.tar,${FAR}/mirror:tools`,
      `000002-tools.tar,${FAR}/mirror/tools:sources2`,
    ]);
  });

  test('a tar that fails mid-push is not recorded; the rerun resumes with it and uploads nothing twice', async () => {
    const dir = await copyOf(byName);
    const registry = new MemoryRegistry();
    const tools = registry.repository({ registry: FAR, repository: 'mirror/tools' });
    const pushManifest = tools.pushManifest.bind(tools);
    vi.spyOn(tools, 'pushManifest').mockImplementation(async (reference, mediaType, bytes) => {
      if (reference === 'sources2') throw new Error('registry went away');
      return pushManifest(reference, mediaType, bytes);
    });
    await expect(deserializeSyncDir(settings(dir), registry)).rejects.toThrow(
      /^registry went away \(the tars before it are recorded in .*successful-syncs\.csv: a rerun resumes with 000002-tools\.tar\)$/,
    );
    expect(await syncRows(dir)).toEqual(['filename,artifact', `000001-tools.tar,${FAR}/mirror/tools:sources1`]);
    expect(tools.tags()).toEqual(['sources1']);

    vi.mocked(tools.pushManifest).mockRestore();
    const uploads = vi.spyOn(tools, 'pushBlob');
    const rerun = await deserializeSyncDir(settings(dir), registry);
    expect(rerun.skipped).toEqual(['000001-tools.tar']);
    expect(pick(rerun, 'syncName', 'uploaded', 'present', 'manifestsPushed')).toEqual([
      { syncName: '000002-tools.tar', uploaded: 0, present: blobsOf(images.sources2).length, manifestsPushed: 1 },
    ]);
    expect(uploads).not.toHaveBeenCalled();
    expect(tools.tags()).toEqual(['sources1', 'sources2']);
  });
});

describe('deserialize --scatter', () => {
  const scattered = (path: string, set: ImageSet) => ({
    source: `docker.io/${path}`,
    target: `${FAR}/mirror/${path}`,
    digest: set.root.digest,
  });

  test('each gathered image also goes to its source path under DEST, tag kept, blobs mounted from DEST/NAME', async () => {
    const dir = await copyOf(byName);
    const registry = new MemoryRegistry();
    const result = await deserializeSyncDir(settings(dir, 'name', { rules: [] }), registry);
    expect(result.loaded.map((loaded) => loaded.scattered)).toEqual([
      [scattered('library/registry:2.8.3', images.registry), scattered('grafana/grafana:10.4.1', images.grafana)],
      [scattered('grafana/grafana:10.4.1', images.grafana), scattered('library/caddy:2.7.6', images.caddy)],
    ]);
    expect(registry.repositories()).toEqual([
      `${FAR}/mirror/grafana/grafana`,
      `${FAR}/mirror/library/caddy`,
      `${FAR}/mirror/library/registry`,
      `${FAR}/mirror/tools`,
    ]);
    const caddy = registry.repository({ registry: FAR, repository: 'mirror/library/caddy' });
    expect(new Set(caddy.digests())).toEqual(digestsOf(images.caddy));
    expect(caddy.tags()).toEqual(['2.7.6']);
  });
});
