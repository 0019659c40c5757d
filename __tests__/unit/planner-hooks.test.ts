import { expect, test } from 'vitest';
import { MemoryRegistry } from '../../src/core/oci/memory-store.ts';
import type { Storages } from '../../src/core/oci/storage.ts';
import { parseBatchList } from '../../src/core/serialize/batch-list.ts';
import { planBatch, type PlanInput } from '../../src/core/serialize/planner.ts';
import { makeImage, storeImageSet } from '../../testkit/images.ts';

test('the planner says how many artifacts it resolves before it asks the first registry', async () => {
  const registry = new MemoryRegistry();
  await storeImageSet(registry.repository({ registry: 'src.example', repository: 'tools' }), 'v1', await makeImage('tools'));
  const said: string[] = [];
  const storages: Storages = {
    open(reference) {
      if (reference.kind !== 'registry') throw new Error('registry only');
      const repository = registry.repository(reference);
      return {
        location: repository.location,
        resolve: (selector) => (said.push(`resolve ${selector}`), repository.resolve(selector)),
        fetchManifest: (descriptor) => repository.fetchManifest(descriptor),
        fetchBlob: (descriptor) => repository.fetchBlob(descriptor),
        exists: (descriptor) => repository.exists(descriptor),
      };
    },
  };
  const input = (rows: string[]): PlanInput => ({
    entries: parseBatchList(rows.join('\n'), 'batch.csv'),
    tracker: [],
    ledger: [],
    compression: 'none',
    dedupScope: 'name',
    concurrency: 4,
    highestUsedNumber: 0,
  });
  const hooks = { resolving: (artifacts: number) => said.push(`resolving ${artifacts}`) };

  const plan = await planBatch(input(['a,src.example/tools:v1', 'b,src.example/tools:v1']), storages, hooks);
  expect(plan.tars).toHaveLength(2);
  expect(said).toEqual(['resolving 2', 'resolve v1', 'resolve v1']);

  said.length = 0;
  await planBatch(input([]), storages, hooks);
  expect(said).toEqual([]);
});
