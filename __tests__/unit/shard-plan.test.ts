/**
 * The sharded run's engine on OCI layouts: the plan file, a shard that writes the planned digest whatever the tag says,
 * and the free-space bound against the tars it bounds.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Compression } from '../../src/core/archive/compression.ts';
import { checkDiskSpace, sizedTar, tarBytesBound } from '../../src/core/serialize/disk-space.ts';
import { planShards } from '../../src/core/serialize/plan-shards.ts';
import { runBatch, type BatchSettings } from '../../src/core/serialize/run.ts';
import { parseShardPlan, readShardPlan } from '../../src/core/serialize/shard-plan.ts';
import { serializeShard } from '../../src/core/serialize/shard-serialize.ts';
import { RegistryAndLayoutStorages } from '../../src/core/serialize/storages.ts';
import { mergeBlobs, tutorialImages, writeOciLayout, type TutorialImages } from '../../testkit/images.ts';
import { batchSettings } from '../support/batch-settings.ts';

let scratch: string;
let store: string;
let images: TutorialImages;
const storages = new RegistryAndLayoutStorages({ insecureRegistries: [] });

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'bs-shard-plan-'));
  images = await tutorialImages();
  store = join(scratch, 'store');
  await writeOciLayout(store, mergeBlobs([images.sources1, images.sources2]), [
    { descriptor: images.sources1.root, tag: 'sources1' },
    { descriptor: images.sources2.root, tag: 'sources2' },
    { descriptor: images.sources1.root, tag: 'moving' },
  ]);
});
afterAll(async () => {
  await storages.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

let batches = 0;
async function settings(lines: string[], compression: Compression = 'none'): Promise<BatchSettings> {
  const dir = join(scratch, `run-${++batches}`);
  const batchFile = `${dir}.csv`;
  await writeFile(batchFile, `name,artifact\n${lines.map((line) => line.replace(/,(.*)$/, `,ocidir://${store}:$1`)).join('\n')}\n`);
  return batchSettings(batchFile, join(dir, 'sync'), { compression });
}

describe('a shard writes what the plan numbered', () => {
  test('a tag moved since the plan: the planned digest is written; a digest the store lost fails naming tar and digest', async () => {
    const batch = await settings(['tools,moving']);
    const { shardPlan, path } = await planShards(batch, 4, storages);
    const planFile = path as string;
    await writeOciLayout(store, new Map(), [{ descriptor: images.sources2.root, tag: 'moving' }]);
    try {
      const shard = await serializeShard(
        { plan: shardPlan!, planFile, shard: 1, dir: join(scratch, 'moved'), concurrency: 2, keepTars: true },
        storages,
      );
      expect(shard.record.tars.map((entry) => [entry.syncName, entry.digest])).toEqual([['000001-tools.tar', images.sources1.root.digest]]);

      const lost = JSON.parse(await readFile(planFile, 'utf8')) as { shards: Array<{ tars: Array<{ root: { digest: string } }> }> };
      (lost.shards[0]?.tars[0] as { root: { digest: string } }).root.digest = `sha256:${'0'.repeat(64)}`;
      await expect(
        serializeShard(
          {
            plan: parseShardPlan(JSON.stringify(lost), 'p.json'),
            planFile,
            shard: 1,
            dir: join(scratch, 'lost'),
            concurrency: 2,
            keepTars: true,
          },
          storages,
        ),
      ).rejects.toThrow(new RegExp(`^shard 1 of plan 000001-000001: 000001-tools\\.tar \\(ocidir://.*:moving@sha256:0{64}\\): `));
    } finally {
      await writeOciLayout(store, new Map(), [{ descriptor: images.sources1.root, tag: 'moving' }]);
    }
  });

  test('a plan file that is not one is refused, naming the file and the field', async () => {
    const { path } = await planShards(await settings(['a,sources1', 'b,sources2']), 4, storages);
    const plan = await readShardPlan(path as string);
    interface Editable {
      version: number;
      last: number;
      settings: { compression: string };
      shards: Array<{ first: number; tars: Array<{ syncName: string }> }>;
    }
    const broken = (change: (plan: Editable) => void) => {
      const copy = structuredClone(plan) as unknown as Editable;
      change(copy);
      return () => parseShardPlan(JSON.stringify(copy), 'plan.json');
    };
    expect(() => parseShardPlan('{', 'plan.json')).toThrow(/^plan\.json: not a usable batch-serialize shard plan: not JSON: /);
    expect(broken((p) => (p.version = 2))).toThrow(/: version 2 \(this batch-serialize [\d.]+ reads version 1\)$/);
    expect(broken((p) => ((p.shards[1] as Editable['shards'][number]).first = 3))).toThrow(
      /: shards\[1\] is not numbered 2 on, contiguously$/,
    );
    expect(broken((p) => ((p.shards[0]?.tars[0] as { syncName: string }).syncName = '000001-a.tar.zst'))).toThrow(
      /: shards\[0\]\.tars\[0\]: syncName "000001-a\.tar\.zst" is not 000001-a\.tar$/,
    );
    expect(broken((p) => (p.settings.compression = 'xz'))).toThrow(/: settings\.compression: unknown compression "xz"/);
    expect(broken((p) => (p.last = 3))).toThrow(/: id "000001-000002", first and last do not match the shards$/);
  });
});

describe('free space', () => {
  test.each(['none', 'gzip', 'zstd'] as const)(
    'the bound holds every tar written (%s), and is close for a plain one',
    async (compression) => {
      const result = await runBatch(await settings(['a,sources1', 'b,sources2'], compression), storages);
      for (const [i, tar] of result.plan.tars.entries()) {
        const bytes = (await stat(result.written[i]?.path as string)).size;
        const bound = tarBytesBound(sizedTar(tar), compression);
        expect(bound).toBeGreaterThanOrEqual(bytes);
        if (compression === 'none') expect(bound - bytes).toBeLessThan(16 * 1024);
      }
    },
  );

  test('one at a time the largest must fit, else all of them; the message gives the numbers', async () => {
    const { plan } = await runBatch({ ...(await settings(['a,sources1', 'b,sources2'])), dryRun: true }, storages);
    const tars = plan.tars.map(sizedTar);
    const [a, b] = tars.map((tar) => tarBytesBound(tar, 'zstd'));
    const free = async () => Math.max(a as number, b as number) + 1;
    await checkDiskSpace({ dir: 'sync', tars, compression: 'zstd', oneAtATime: true }, free);
    const message = await checkDiskSpace({ dir: 'sync', tars, compression: 'zstd', oneAtATime: false }, free).catch(
      (error: Error) => error.message,
    );
    expect(message).toContain(`(${await free()} bytes) free, and the 2 tar(s) of this run stay there and need up to`);
    expect(message).toContain(`(${(a as number) + (b as number)} bytes) together (the largest, 000002-b.tar`);
    expect(message).toContain('before zstd compression: an upper bound, the files are usually a little smaller). Nothing was written.');
    const tooSmall = async () => 1000;
    const one = await checkDiskSpace({ dir: 'sync', tars, compression: 'none', oneAtATime: true }, tooSmall).catch(
      (error: Error) => error.message,
    );
    expect(one).toMatch(
      /^not enough free space in sync: 1000 B \(1000 bytes\) free, and the largest tar of this run, 000002-b\.tar, needs up to /,
    );
    expect(one).toMatch(
      / \(each tar is deleted once uploaded and recorded, so one at a time must fit\) \(blobs plus tar headers\)\. Nothing was written\.$/,
    );
  });
});
