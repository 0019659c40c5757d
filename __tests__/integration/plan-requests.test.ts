import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseBatchList } from '../../src/core/serialize/batch-list.ts';
import { planBatch, type PlanInput } from '../../src/core/serialize/planner.ts';
import { RegistryAndLayoutStorages } from '../../src/core/serialize/storages.ts';
import { makeImage, makeIndex, linuxArm64, pushImageSet } from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';
import { proxyTo, startLoopbackServer, type LoopbackServer } from '../support/redirect-server.ts';

let registry: RunningRegistry;
let front: LoopbackServer;
/** An index of two images under plan/tools:v1, and v2 (one image more) beside it. */
let v1: string;
let v2: string;
beforeAll(async () => {
  registry = await startRegistry();
  front = await startLoopbackServer((req, res) => proxyTo(registry.url, req, res));
  const amd64 = await makeImage('tools');
  const arm64 = await makeImage('tools', { platform: linuxArm64 });
  const first = makeIndex([amd64, arm64]);
  const second = makeIndex([amd64, arm64, await makeImage('tools-extra')]);
  await pushImageSet(registry.url, 'plan/tools', 'v1', first);
  await pushImageSet(registry.url, 'plan/tools', 'v2', second);
  v1 = first.root.digest;
  v2 = second.root.digest;
});
afterAll(async () => {
  await front?.stop();
  await registry?.stop();
});

/**
 * The manifest requests the plan of `plan/tools:TAG` sends (a root by digest named ROOT1 or ROOT2, the index's
 * children left out), given the root the tracker (and ledger) say the name shipped last.
 */
async function manifestRequests(tag: string, shipped?: string): Promise<string[]> {
  const storages = new RegistryAndLayoutStorages({ insecureRegistries: [] });
  const artifact = `${front.host}/plan/tools:v1`;
  const syncName = '000001-tools.tar';
  const input: PlanInput = {
    entries: parseBatchList(`tools,${front.host}/plan/tools:${tag}`, 'batch.csv'),
    tracker: shipped === undefined ? [] : [{ syncName, number: 1, name: 'tools', artifact, digest: shipped }],
    ledger: shipped === undefined ? [] : [{ syncName, artifact, digest: shipped, tar: null, blobs: [] }],
    compression: 'none',
    dedupScope: 'name',
    concurrency: 4,
    highestUsedNumber: 1,
  };
  const before = front.requests.length;
  try {
    await planBatch(input, storages);
  } finally {
    await storages.close();
  }
  const roots = new Map([
    [v1, 'ROOT1'],
    [v2, 'ROOT2'],
  ]);
  return front.requests
    .slice(before)
    .map((request) => `${request.method} ${request.url}`)
    .filter((line) => line.includes('/manifests/'))
    .map((line) => line.replace(/sha256:[0-9a-f]{64}/, (digest) => roots.get(digest) ?? 'CHILD'))
    .filter((line) => !line.endsWith('CHILD'));
}

test('an artifact its name never shipped is resolved and its root read by one GET, not a HEAD and a GET (a round trip saved)', async () => {
  expect(await manifestRequests('v1')).toEqual(['GET /v2/plan/tools/manifests/v1']);
});

test('one the name shipped is asked with a HEAD, which suffices when nothing changed', async () => {
  expect(await manifestRequests('v1', v1)).toEqual(['HEAD /v2/plan/tools/manifests/v1']);
});

test('one that changed since: the HEAD, then its new root by digest', async () => {
  expect(await manifestRequests('v2', v1)).toEqual(['HEAD /v2/plan/tools/manifests/v2', 'GET /v2/plan/tools/manifests/ROOT2']);
});
