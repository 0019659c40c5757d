import { beforeAll, describe, expect, test } from 'vitest';
import { isManifest, type Descriptor } from '../../src/core/oci/descriptor.ts';
import { MemoryRegistry } from '../../src/core/oci/memory-store.ts';
import type { Storages } from '../../src/core/oci/storage.ts';
import { parseBatchList } from '../../src/core/serialize/batch-list.ts';
import { planBatch, type Plan, type PlanInput } from '../../src/core/serialize/planner.ts';
import type { DedupScope } from '../../src/core/sync-dir/dedup-scope.ts';
import type { LedgerEntry } from '../../src/core/sync-dir/ledger.ts';
import type { TrackerRow } from '../../src/core/sync-dir/tracker.ts';
import { manifestsChildrenFirst, storeImageSet, tutorialImages, type ImageSet, type TutorialImages } from '../../testkit/images.ts';

const HOST = 'src.example';
let images: TutorialImages;
let registry: MemoryRegistry;
const storages: Storages = {
  open(reference) {
    if (reference.kind !== 'registry') throw new Error(`not in memory: ${reference.path}`);
    return registry.repository(reference);
  },
};

beforeAll(async () => {
  images = await tutorialImages();
  registry = new MemoryRegistry();
  const gather = registry.repository({ registry: HOST, repository: 'gather' });
  await storeImageSet(gather, 'sources1', images.sources1);
  await storeImageSet(gather, 'sources2', images.sources2);
  await storeImageSet(registry.repository({ registry: HOST, repository: 'grafana' }), '10.4.1', images.grafana);
});

const digests = (descriptors: readonly Descriptor[]) => new Set(descriptors.map((descriptor) => descriptor.digest));
/** The set's blobs that are not manifests: what deduplication may leave out. */
const otherBlobs = (set: ImageSet) => {
  const manifests = digests(manifestsChildrenFirst(set));
  return [...set.blobs.keys()].filter((digest) => !manifests.has(digest));
};
const sizeOf = (set: ImageSet, keys: Iterable<string>) =>
  [...keys].reduce((sum, digest) => sum + (set.blobs.get(digest)?.byteLength ?? 0), 0);

function plan(
  rows: string[],
  state: { tracker?: TrackerRow[]; ledger?: LedgerEntry[]; dedupScope?: DedupScope; highestUsedNumber?: number } = {},
): Promise<Plan> {
  const input: PlanInput = {
    entries: parseBatchList(rows.join('\n'), 'batch.csv'),
    tracker: state.tracker ?? [],
    ledger: state.ledger ?? [],
    compression: 'none',
    dedupScope: state.dedupScope ?? 'name',
    concurrency: 4,
    highestUsedNumber: state.highestUsedNumber ?? 0,
  };
  return planBatch(input, storages);
}

/** The tracker row and ledger entry a run that wrote `tar` leaves behind. */
function shipped(result: Plan, index = 0): { row: TrackerRow; entry: LedgerEntry } {
  const tar = result.tars[index];
  if (tar === undefined) throw new Error(`no tar ${index} planned`);
  const row = { syncName: tar.syncName, number: tar.number, name: tar.entry.name, artifact: tar.entry.artifact, digest: tar.root.digest };
  const blobs = tar.graph.nodes.map(({ descriptor: { digest, size, mediaType } }) => ({ digest, size, mediaType }));
  return {
    row,
    entry: {
      syncName: tar.syncName,
      artifact: tar.entry.artifact,
      digest: tar.root.digest,
      tar: { sha256: 'sha256:' + '0'.repeat(64), bytes: 1 },
      blobs,
    },
  };
}

describe('planBatch: what each tar carries', () => {
  test('a first run ships every blob of the artifact, manifests included, as 000001', async () => {
    const result = await plan([`tools,${HOST}/gather:sources1`]);
    expect(result.upToDate).toEqual([]);
    const [tar] = result.tars;
    expect(tar?.syncName).toBe('000001-tools.tar');
    expect(tar?.root.digest).toBe(images.sources1.root.digest);
    expect(tar?.root.annotations?.['org.opencontainers.image.ref.name']).toBe(`${HOST}/gather:sources1`);
    expect(digests(tar?.blobs ?? [])).toEqual(new Set(images.sources1.blobs.keys()));
    expect(tar?.blobs[0]?.digest).toBe(images.sources1.root.digest);
    expect(tar?.deduplicated).toEqual([]);
    expect(tar?.contentBytes).toBe(sizeOf(images.sources1, images.sources1.blobs.keys()));
  });

  test('the next version leaves out the blobs an earlier tar of the name holds, never a manifest', async () => {
    const first = shipped(await plan([`tools,${HOST}/gather:sources1`]));
    const result = await plan([`tools,${HOST}/gather:sources2`], { tracker: [first.row], ledger: [first.entry] });
    const [tar] = result.tars;
    expect(tar?.syncName).toBe('000002-tools.tar');
    expect(tar?.previous).toEqual(first.row);
    const shared = otherBlobs(images.sources2).filter((digest) => images.sources1.blobs.has(digest));
    expect(shared.length).toBeGreaterThan(0);
    expect(digests(tar?.deduplicated ?? [])).toEqual(new Set(shared));
    expect(tar?.deduplicatedBytes).toBe(sizeOf(images.sources2, shared));
    // grafana's manifest travels again although 000001 holds it: every tar carries all its manifests
    const grafanaManifest = images.grafana.root.digest;
    expect(images.sources1.blobs.has(grafanaManifest)).toBe(true);
    expect(digests(tar?.blobs ?? []).has(grafanaManifest)).toBe(true);
    expect((tar?.deduplicated ?? []).some((descriptor) => isManifest(descriptor.mediaType))).toBe(false);
    expect(result.learned).toEqual([]);
  });

  test('an artifact whose root is what the name last shipped is up to date: no tar', async () => {
    const first = shipped(await plan([`tools,${HOST}/gather:sources1`]));
    const result = await plan([`tools,${HOST}/gather:sources1`], { tracker: [first.row], ledger: [first.entry] });
    expect(result.tars).toEqual([]);
    expect(result.upToDate).toEqual([{ entry: expect.objectContaining({ name: 'tools' }), row: first.row }]);
  });

  test("dedup scope name ignores another name's tars; scope all leaves their blobs out too", async () => {
    const first = shipped(await plan([`tools,${HOST}/gather:sources1`]));
    const state = { tracker: [first.row], ledger: [first.entry] };
    const byName = await plan([`ops,${HOST}/grafana:10.4.1`], state);
    expect(byName.tars[0]?.deduplicated).toEqual([]);
    const byAll = await plan([`ops,${HOST}/grafana:10.4.1`], { ...state, dedupScope: 'all' });
    expect(digests(byAll.tars[0]?.deduplicated ?? [])).toEqual(new Set(otherBlobs(images.grafana)));
    expect(byAll.tars[0]?.blobs.every((descriptor) => isManifest(descriptor.mediaType))).toBe(true);
  });

  test('with scope all, a later tar of the same run leaves out what an earlier one of it carries', async () => {
    const result = await plan([`tools,${HOST}/gather:sources1`, `ops,${HOST}/grafana:10.4.1`], { dedupScope: 'all' });
    expect(result.tars.map((tar) => tar.syncName)).toEqual(['000001-tools.tar', '000002-ops.tar']);
    expect(digests(result.tars[1]?.deduplicated ?? [])).toEqual(new Set(otherBlobs(images.grafana)));
  });

  test('numbers continue from the highest in the tracker, whatever the row order, one per tar', async () => {
    const first = shipped(await plan([`tools,${HOST}/gather:sources1`]));
    const rows: TrackerRow[] = [
      { ...first.row, syncName: '000007-tools.tar', number: 7 },
      { ...first.row, syncName: '000003-old.tar', number: 3, name: 'old' },
    ];
    const result = await plan([`tools,${HOST}/gather:sources2`, `ops,${HOST}/grafana:10.4.1`], { tracker: rows });
    expect(result.tars.map((tar) => tar.syncName)).toEqual(['000008-tools.tar', '000009-ops.tar']);
  });

  test('numbers used by tars the tracker does not record (seen in the artifact store) are never used again', async () => {
    const first = shipped(await plan([`tools,${HOST}/gather:sources1`]));
    const result = await plan([`tools,${HOST}/gather:sources2`], { tracker: [first.row], highestUsedNumber: 4 });
    expect(result.tars.map((tar) => tar.syncName)).toEqual(['000005-tools.tar']);
    const below = await plan([`tools,${HOST}/gather:sources2`], {
      tracker: [{ ...first.row, number: 9, syncName: '000009-tools.tar' }],
      highestUsedNumber: 4,
    });
    expect(below.tars.map((tar) => tar.syncName)).toEqual(['000010-tools.tar']);
  });

  test('a tracker row without a ledger entry (ace-dt wrote it) is learned from its pinned digest, even after the tag moved', async () => {
    const first = shipped(await plan([`tools,${HOST}/gather:sources1`]));
    // The row names a tag that now points elsewhere: only the digest may be trusted.
    const row = { ...first.row, artifact: `${HOST}/gather:sources2` };
    const result = await plan([`tools,${HOST}/gather:sources2`], { tracker: [row] });
    expect(result.learned).toEqual([
      expect.objectContaining({ syncName: '000001-tools.tar', digest: images.sources1.root.digest, tar: null }),
    ]);
    expect(digests(result.learned[0]?.blobs ?? [])).toEqual(new Set(images.sources1.blobs.keys()));
    expect(digests(result.tars[0]?.deduplicated ?? [])).toEqual(
      new Set(otherBlobs(images.sources2).filter((d) => images.sources1.blobs.has(d))),
    );
  });

  test('an artifact that cannot be resolved fails the plan naming file:line, with every other row resolved', async () => {
    const failure = plan([`tools,${HOST}/gather:sources1`, `ops,${HOST}/gather:nope`]);
    await expect(failure).rejects.toThrow(
      /cannot resolve 1 of 2 artifacts; nothing was written:\n {2}batch\.csv:2: src\.example\/gather:nope: .*not found/,
    );
  });

  test('a tracker row whose blobs cannot be learned stops the plan and says what to restore', async () => {
    const first = shipped(await plan([`tools,${HOST}/gather:sources1`]));
    const row = { ...first.row, digest: 'sha256:' + 'f'.repeat(64) };
    await expect(plan([`tools,${HOST}/gather:sources2`], { tracker: [row] })).rejects.toThrow(
      /tracker row 000001-tools\.tar .*no ledger entry, and its blobs cannot be learned from the registry: .*Restore the ledger/,
    );
  });
});
