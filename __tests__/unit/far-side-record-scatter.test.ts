import { cp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { deserializeSyncDir } from '../../src/core/far-side/deserialize.ts';
import { verifySyncDir } from '../../src/core/far-side/verify.ts';
import { MemoryRegistry } from '../../src/core/oci/memory-store.ts';
import { storeImageSet, type ImageSet, type TutorialImages } from '../../testkit/images.ts';
import { FAR, farSettings, syncDirFixture, type SyncDirFixture } from '../support/sync-dir-fixture.ts';

/** Where the far side records loaded tars (recordPath), and --scatter over tars loaded before. */

let fixture: SyncDirFixture;
let work: string;
let images: TutorialImages;
/** 000001-tools.tar (sources1), 000002-tools.tar (sources2: leaves out grafana's blobs). */
let base: string;

beforeAll(async () => {
  fixture = await syncDirFixture('bs-record-');
  ({ work, images } = fixture);
  base = await fixture.tutorialPair('base');
});
afterAll(() => fixture.remove());

const copyOfBase = () => fixture.copyOf(base);

const settings = farSettings;

async function rows(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text
    .trim()
    .split('\n')
    .map((line) => line.split(',').slice(0, 2).join(','));
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

describe('recordPath: the record of loaded tars kept elsewhere', () => {
  test('loads, records there (not in DIR), a rerun skips; verify reads it too', async () => {
    const dir = await copyOfBase();
    const record = join(work, `record-${basename(dir)}.csv`);
    const registry = new MemoryRegistry();
    const result = await deserializeSyncDir(settings(dir, { recordPath: record }), registry);
    expect(result.loaded.map((tar) => tar.syncName)).toEqual(['000001-tools.tar', '000002-tools.tar']);
    expect(await rows(record)).toEqual([
      'filename,artifact',
      `000001-tools.tar,${FAR}/mirror/tools:sources1`,
      `000002-tools.tar,${FAR}/mirror/tools:sources2`,
    ]);
    expect(await exists(join(dir, 'successful-syncs.csv'))).toBe(false);
    const rerun = await deserializeSyncDir(settings(dir, { recordPath: record }), registry);
    expect(rerun.skipped).toEqual(['000001-tools.tar', '000002-tools.tar']);

    await rm(join(dir, '000001-tools.tar'));
    const report = await verifySyncDir({ dir, dedupScope: 'name', trackerFilename: 'record-keeping.csv', recordPath: record });
    expect(report.absent).toEqual([{ number: 1, syncName: '000001-tools.tar', state: 'loaded' }]);
    expect(report.ok).toBe(true);
  });

  test("DIR's own record is read too and carried over into the record elsewhere", async () => {
    const dir = await copyOfBase();
    const registry = new MemoryRegistry();
    await rm(join(dir, '000002-tools.tar'));
    await deserializeSyncDir(settings(dir), registry);
    await cp(join(base, '000002-tools.tar'), join(dir, '000002-tools.tar'));
    const record = join(work, `record-${basename(dir)}.csv`);
    const result = await deserializeSyncDir(settings(dir, { recordPath: record }), registry);
    expect(result.skipped).toEqual(['000001-tools.tar']);
    expect(result.loaded.map((tar) => tar.syncName)).toEqual(['000002-tools.tar']);
    expect(await rows(record)).toEqual([
      'filename,artifact',
      `000001-tools.tar,${FAR}/mirror/tools:sources1`,
      `000002-tools.tar,${FAR}/mirror/tools:sources2`,
    ]);
  });

  test('a record that cannot be written stops the run before anything is pushed', async () => {
    const dir = await copyOfBase();
    const registry = new MemoryRegistry();
    const record = join(work, 'no-such-directory', 'successful-syncs.csv');
    await expect(deserializeSyncDir(settings(dir, { recordPath: record }), registry)).rejects.toThrow(
      `cannot record loaded tars in ${record}: cannot write in ${join(work, 'no-such-directory')}: ENOENT`,
    );
    expect(registry.repositories()).toEqual([]);
  });
});

describe('--scatter over tars loaded before, and each image listed once', () => {
  const image = (path: string, set: ImageSet) => ({
    source: `docker.io/${path}`,
    target: `${FAR}/mirror/${path}`,
    digest: set.root.digest,
  });
  const all = () => [
    image('library/registry:2.8.3', images.registry),
    image('grafana/grafana:10.4.1', images.grafana),
    image('library/caddy:2.7.6', images.caddy),
  ];

  test('scatter asked on a later run: the loaded tars are scattered from their manifests in the tars, counted', async () => {
    const dir = await copyOfBase();
    const registry = new MemoryRegistry();
    await deserializeSyncDir(settings(dir), registry);
    expect(registry.repositories()).toEqual([`${FAR}/mirror/tools`]);

    const result = await deserializeSyncDir(settings(dir, { scatter: { rules: [] } }), registry);
    expect(result.loaded).toEqual([]);
    expect(result.skipped).toEqual(['000001-tools.tar', '000002-tools.tar']);
    expect(result.rescattered).toEqual([
      { syncName: '000001-tools.tar', name: 'tools', loadedInto: `${FAR}/mirror/tools`, scattered: [all()[0], all()[1]] },
      { syncName: '000002-tools.tar', name: 'tools', loadedInto: `${FAR}/mirror/tools`, scattered: [all()[1], all()[2]] },
    ]);
    expect(result.scattered).toEqual(all());
    expect(registry.repositories()).toEqual([
      `${FAR}/mirror/grafana/grafana`,
      `${FAR}/mirror/library/caddy`,
      `${FAR}/mirror/library/registry`,
      `${FAR}/mirror/tools`,
    ]);
    const caddy = registry.repository({ registry: FAR, repository: 'mirror/library/caddy' });
    expect(caddy.tags()).toEqual(['2.7.6']);
    expect((await caddy.resolve('2.7.6')).digest).toBe(images.caddy.root.digest);
    expect(await rows(join(dir, 'successful-syncs.csv'))).toHaveLength(3); // nothing new recorded

    // Idempotent: again, the same.
    const again = await deserializeSyncDir(settings(dir, { scatter: { rules: [] } }), registry);
    expect(again.scattered).toEqual(all());
  });

  test('one run loading both tars lists each image once, and pushes the image two tars carry once', async () => {
    const dir = await copyOfBase();
    const registry = new MemoryRegistry();
    const grafana = registry.repository({ registry: FAR, repository: 'mirror/grafana/grafana' });
    const pushes = vi.spyOn(grafana, 'pushManifest');
    const result = await deserializeSyncDir(settings(dir, { scatter: { rules: [] } }), registry);
    expect(result.scattered).toEqual(all());
    expect(result.rescattered).toEqual([]);
    expect(result.loaded.map((tar) => tar.scattered.length)).toEqual([2, 2]);
    expect(pushes.mock.calls.filter(([reference]) => reference === '10.4.1')).toHaveLength(1);
  });

  test('a tar ace-dt loaded into DEST itself (recorded DEST:NAME): scattered with its blobs mounted from DEST', async () => {
    const dir = await copyOfBase();
    await rm(join(dir, '000002-tools.tar'));
    await writeFile(join(dir, 'successful-syncs.csv'), `filename,artifact,timestamp\n000001-tools.tar,${FAR}/mirror:tools,x\n`);
    const registry = new MemoryRegistry();
    await storeImageSet(registry.repository({ registry: FAR, repository: 'mirror' }), 'tools', images.sources1);
    const result = await deserializeSyncDir(settings(dir, { scatter: { rules: [] } }), registry);
    expect(result.rescattered.map((tar) => [tar.syncName, tar.loadedInto])).toEqual([['000001-tools.tar', `${FAR}/mirror`]]);
    expect(result.scattered).toEqual([all()[0], all()[1]]);
    const grafana = registry.repository({ registry: FAR, repository: 'mirror/grafana/grafana' });
    expect((await grafana.resolve('10.4.1')).digest).toBe(images.grafana.root.digest);
  });

  test('a tar recorded as loaded whose root is not at the destination: named, not scattered', async () => {
    const dir = await copyOfBase();
    await writeFile(join(dir, 'successful-syncs.csv'), `filename,artifact,timestamp\n000001-tools.tar,${FAR}/mirror/tools:sources1,x\n`);
    await expect(deserializeSyncDir(settings(dir, { scatter: { rules: [] } }), new MemoryRegistry())).rejects.toThrow(
      `000001-tools.tar: cannot scatter its images: recorded as loaded, but its root ${images.sources1.root.digest} is in none of ` +
        `${FAR}/mirror/tools, ${FAR}/mirror`,
    );
  });
});
