/**
 * How deserialize uploads, seen from a loopback proxy in front of the far registry: several blobs at once (a plain
 * tar by byte ranges, a compressed one from memory while the stream goes on), manifests of one level side by side,
 * and through a proxy that refuses request bodies over 1 MiB (as nginx's default client_max_body_size): chunks,
 * smaller after each 413.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from './support/cli.ts';
import { proxyTo, startLoopbackServer, type LoopbackServer } from '../support/redirect-server.ts';
import { digestsOf, fetchGraph, resolveTag } from '../../testkit/far-registry.ts';
import { tutorialImages, writeOciLayout, type TutorialImages } from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

const MiB = 1024 * 1024;
let far: RunningRegistry;
let images: TutorialImages;
let work: string;
/** The tutorial's sources2 with layers of up to 1.8 MB, serialized uncompressed and with zstd. */
const syncDirs: Record<string, string> = {};

beforeAll(async () => {
  [far, images, work] = await Promise.all([
    startRegistry(),
    tutorialImages({ layerScale: 200 }),
    mkdtemp(join(tmpdir(), 'bs-far-upload-')),
  ]);
  const store = join(work, 'store');
  await writeOciLayout(store, images.sources2.blobs, [{ descriptor: images.sources2.root, tag: 'sources2' }]);
  const batch = join(work, 'batch.csv');
  await writeFile(batch, `name,artifact\ntools,ocidir://${store}:sources2\n`);
  for (const compression of ['none', 'zstd']) {
    syncDirs[compression] = join(work, compression);
    const serialized = await runCli([batch, syncDirs[compression] as string, '--compression', compression]);
    expect(serialized.code, serialized.stderr).toBe(0);
  }
});
afterAll(async () => {
  await far?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface WatchingProxy extends LoopbackServer {
  /** The most blob uploads (PUT or PATCH with a body) the registry was handling at once. */
  mostAtOnce(): number;
  /** The most manifest PUTs it was handling at once. */
  mostManifestsAtOnce(): number;
  /** Bodies refused with 413, and the largest body forwarded. */
  refused(): number;
  largestForwarded(): number;
}

async function watchingProxy(maxBodyBytes?: number): Promise<WatchingProxy> {
  let atOnce = 0;
  let most = 0;
  let manifestsAtOnce = 0;
  let mostManifests = 0;
  let largest = 0;
  let refused = 0;
  const server = await startLoopbackServer(async (req, res) => {
    const length = Number(req.headers['content-length'] ?? 0);
    const upload = (req.method === 'PUT' || req.method === 'PATCH') && req.url?.includes('/blobs/uploads/') === true && length > 0;
    if (maxBodyBytes !== undefined && length > maxBodyBytes) refused++;
    else largest = Math.max(largest, length);
    const manifest = req.method === 'PUT' && req.url?.includes('/manifests/') === true;
    if (upload) most = Math.max(most, ++atOnce);
    if (manifest) mostManifests = Math.max(mostManifests, ++manifestsAtOnce);
    try {
      await proxyTo(far.url, req, res, maxBodyBytes === undefined ? {} : { maxBodyBytes });
    } finally {
      if (upload) atOnce--;
      if (manifest) manifestsAtOnce--;
    }
  });
  return {
    ...server,
    mostAtOnce: () => most,
    mostManifestsAtOnce: () => mostManifests,
    refused: () => refused,
    largestForwarded: () => largest,
  };
}

async function expectLoaded(path: string): Promise<void> {
  expect(await resolveTag(far.url, `${path}/tools`, 'sources2')).toBe(images.sources2.root.digest);
  expect(await fetchGraph(far.url, `${path}/tools`, 'sources2')).toEqual(digestsOf(images.sources2));
}

describe.each(['none', 'zstd'])('a tar with compression %s', (compression) => {
  test('its blobs go up several at once, and so do manifests that point only at manifests pushed before', async () => {
    const proxy = await watchingProxy();
    try {
      const loaded = await runCli(['deserialize', syncDirs[compression] as string, `${proxy.host}/parallel-${compression}`]);
      expect(loaded.stderr, loaded.stderr).not.toMatch(/error|warning/i);
      expect(loaded.code).toBe(0);
      expect(proxy.mostAtOnce()).toBeGreaterThan(1);
      expect(proxy.mostManifestsAtOnce()).toBeGreaterThan(1); // grafana's and caddy's two platforms
      await expectLoaded(`parallel-${compression}`);
    } finally {
      await proxy.stop();
      await rm(join(syncDirs[compression] as string, 'successful-syncs.csv'), { force: true });
    }
  });

  test('it loads through a proxy that refuses bodies over 1 MiB', async () => {
    const proxy = await watchingProxy(MiB);
    try {
      const loaded = await runCli(['deserialize', syncDirs[compression] as string, `${proxy.host}/limited-${compression}`]);
      expect(loaded.stderr, loaded.stderr).not.toMatch(/error|warning/i);
      expect(loaded.code).toBe(0);
      expect(proxy.refused()).toBeGreaterThan(0);
      expect(proxy.largestForwarded()).toBeLessThanOrEqual(MiB);
      expect(proxy.requests.some((request) => request.method === 'PATCH')).toBe(true);
      await expectLoaded(`limited-${compression}`);
    } finally {
      await proxy.stop();
      await rm(join(syncDirs[compression] as string, 'successful-syncs.csv'), { force: true });
    }
  });
});
