/**
 * The dedup scope travels with the tars (issue 11, item 5): serialize records it in each tar's index.json, verify and
 * deserialize use it; an explicit --dedup-scope on the far side overrides it on purpose, with a note when it disagrees.
 */
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { scanTar } from '../../src/core/archive/tar-scan.ts';
import { deserializeSyncDir } from '../../src/core/far-side/deserialize.ts';
import { verifySyncDir } from '../../src/core/far-side/verify.ts';
import { MemoryRegistry } from '../../src/core/oci/memory-store.ts';
import { digestsOf } from '../../testkit/far-registry.ts';
import { FAR, farSettings, syncDirFixture, type SyncDirFixture } from '../support/sync-dir-fixture.ts';

let fixture: SyncDirFixture;
/** 000001-ops.tar (sources1), 000002-tools.tar (sources2: leaves out grafana's blobs, which ops shipped), by --dedup-scope all. */
let byAll: string;
/** 000001-tools.tar, 000002-tools.tar, by --dedup-scope name. */
let byName: string;

beforeAll(async () => {
  fixture = await syncDirFixture('bs-scope-');
  byName = await fixture.tutorialPair('by-name');
  byAll = join(fixture.work, 'by-all');
  await fixture.serialize(byAll, [`ops,${fixture.ref('sources1')}`], 'all');
  await fixture.serialize(byAll, [`ops,${fixture.ref('sources1')}`, `tools,${fixture.ref('sources2')}`], 'all');
});
afterAll(() => fixture.remove());

const verify = (dir: string, dedupScope?: 'name' | 'all') =>
  verifySyncDir({ dir, trackerFilename: 'record-keeping.csv', ...(dedupScope ? { dedupScope } : {}) });

test("serialize records its scope in each tar's index.json", async () => {
  expect((await scanTar(join(byAll, '000002-tools.tar'))).dedupScope).toBe('all');
  expect((await scanTar(join(byName, '000002-tools.tar'))).dedupScope).toBe('name');
});

describe('verify', () => {
  test('takes the recorded scope: a directory serialized with --dedup-scope all checks out without the option', async () => {
    const report = await verify(byAll);
    expect(report.tars.map((tar) => [tar.syncName, tar.dedupScope, tar.problems, tar.fromEarlierTars > 0])).toEqual([
      ['000001-ops.tar', 'all', [], false],
      ['000002-tools.tar', 'all', [], true],
    ]);
    expect(report.ok).toBe(true);
  });

  test('an explicit --dedup-scope overrides the recorded one, saying so where they disagree', async () => {
    const report = await verify(byAll, 'name');
    expect(report.ok).toBe(false);
    expect(report.tars[1]?.problems[0]).toMatch(/^5 blob\(s\) of the artifact are in neither this tar nor an earlier tar here/);
    const override = 'serialized with --dedup-scope all (its index.json says so), checked with --dedup-scope name as asked';
    expect(report.tars.map((tar) => tar.notes.filter((note) => note.includes('--dedup-scope')))).toEqual([[override], [override]]);
    expect((await verify(byName, 'name')).tars.flatMap((tar) => tar.notes)).toEqual([]);
  });
});

describe('deserialize', () => {
  test('takes the recorded scope: the tars load in two runs as in one, the left-out blobs mounted from the other name', async () => {
    const dir = await fixture.copyOf(byAll);
    const registry = new MemoryRegistry();
    const aside = join(fixture.work, 'aside-000002-tools.tar');
    await rename(join(dir, '000002-tools.tar'), aside);
    await deserializeSyncDir(farSettings(dir, { dedupScope: undefined }), registry);
    await rename(aside, join(dir, '000002-tools.tar'));
    const result = await deserializeSyncDir(farSettings(dir, { dedupScope: undefined }), registry);
    expect(result.loaded.map((tar) => [tar.syncName, tar.mounted > 0])).toEqual([['000002-tools.tar', true]]);
    const tools = registry.repository({ registry: FAR, repository: 'mirror/tools' });
    expect(new Set(tools.digests())).toEqual(digestsOf(fixture.images.sources2));
  });

  test('an explicit --dedup-scope name overrides, with a note, and refuses what only another name holds', async () => {
    const dir = await fixture.copyOf(byAll);
    const registry = new MemoryRegistry();
    await rename(join(dir, '000002-tools.tar'), join(fixture.work, 'aside-override.tar'));
    await deserializeSyncDir(farSettings(dir), registry);
    await rename(join(fixture.work, 'aside-override.tar'), join(dir, '000002-tools.tar'));
    const notes: string[] = [];
    const run = deserializeSyncDir(farSettings(dir, { dedupScope: 'name' }), registry, {
      note: (tar, note) => notes.push(`${tar.syncName}: ${note}`),
    });
    await expect(run).rejects.toThrow(/^000002-tools\.tar: refused, no manifest or tag of it was pushed: it leaves out 5 blob\(s\) that /);
    expect(notes).toContain(
      '000002-tools.tar: serialized with --dedup-scope all (its index.json says so), loaded with --dedup-scope name as asked',
    );
  });
});
