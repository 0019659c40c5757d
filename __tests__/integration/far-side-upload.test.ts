/**
 * How deserialize uploads, seen from a loopback proxy in front of the far registry: several blobs at once (a plain
 * tar by byte ranges, a compressed one from memory while the stream goes on), manifests of one level side by side,
 * and through a proxy that refuses request bodies over 1 MiB (as nginx's default client_max_body_size): chunks,
 * smaller after each 413; and through one that resets the connection of a big body instead (chunks, and a clear failure
 * when it resets chunks too). A compressed tar's big blob streams up in one PUT; refused (413 or reset) once most of it
 * was read, it goes up again.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from './support/cli.ts';
import { proxyTo, startLoopbackServer, type BodyCut, type LoopbackServer, type ProxyOptions } from '../support/redirect-server.ts';
import { digestsOf, fetchGraph, resolveTag } from '../../testkit/far-registry.ts';
import {
  makeImage,
  manifestsChildrenFirst,
  tutorialImages,
  writeOciLayout,
  type ImageSet,
  type TutorialImages,
} from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

const MiB = 1024 * 1024;
let far: RunningRegistry;
let images: TutorialImages;
let work: string;
/** The tutorial's sources2 with layers of up to 1.8 MB, serialized uncompressed and with zstd. */
const syncDirs: Record<string, string> = {};
/** An image with a 40 MiB layer (over what a compressed tar's uploads hold in memory), serialized with zstd. */
let big: ImageSet;
let bigSyncDir: string;

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
  big = await makeImage('big', { layers: [40 * MiB] });
  const bigStore = join(work, 'big-store');
  await writeOciLayout(bigStore, big.blobs, [{ descriptor: big.root, tag: 'v1' }]);
  await writeFile(batch, `name,artifact\nbig,ocidir://${bigStore}:v1\n`);
  bigSyncDir = join(work, 'big');
  const serialized = await runCli([batch, bigSyncDir, '--compression', 'zstd']);
  expect(serialized.code, serialized.stderr).toBe(0);
}, 120_000);
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

/** A proxy in front of the far registry that refuses bodies over a limit (413) or cuts them short (`cutBodies`). */
async function watchingProxy(limit: Pick<ProxyOptions, 'maxBodyBytes' | 'cutBodies'> = {}): Promise<WatchingProxy> {
  const maxBodyBytes = limit.maxBodyBytes ?? limit.cutBodies?.overBytes;
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
      await proxyTo(far.url, req, res, limit);
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

/** Proxies that take request bodies of at most 1 MiB (nginx's default client_max_body_size), by a 413 or by cutting. */
const bodyLimits: Record<string, Pick<ProxyOptions, 'maxBodyBytes' | 'cutBodies'>> = {
  'refuses bodies over 1 MiB': { maxBodyBytes: MiB },
  'resets the connection of a body over 1 MiB once 256 KiB of it went': {
    cutBodies: { overBytes: MiB, afterBytes: 256 * 1024, how: 'reset' },
  },
};

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

  test.each(Object.keys(bodyLimits))('it loads through a proxy that %s', async (limit) => {
    const proxy = await watchingProxy(bodyLimits[limit]);
    const path = `limited-${compression}-${Object.keys(bodyLimits).indexOf(limit)}`;
    try {
      const loaded = await runCli(['deserialize', syncDirs[compression] as string, `${proxy.host}/${path}`]);
      expect(loaded.stderr, loaded.stderr).not.toMatch(/error|warning|trying again/i);
      expect(loaded.code).toBe(0);
      expect(proxy.refused()).toBeGreaterThan(0);
      expect(proxy.largestForwarded()).toBeLessThanOrEqual(MiB);
      expect(proxy.requests.some((request) => request.method === 'PATCH')).toBe(true);
      await expectLoaded(path);
    } finally {
      await proxy.stop();
      await rm(join(syncDirs[compression] as string, 'successful-syncs.csv'), { force: true });
    }
  });

  test('through a proxy that resets chunks too, the tar fails naming the blob and the host, and nothing of it is referenced', async () => {
    const cutBodies: BodyCut = { overBytes: MiB, afterBytes: 256 * 1024, how: 'reset', patches: Number.POSITIVE_INFINITY };
    const proxy = await watchingProxy({ cutBodies });
    const path = `cut-all-${compression}`;
    try {
      const loaded = await runCli(['deserialize', syncDirs[compression] as string, `${proxy.host}/${path}`]);
      expect(loaded.code).toBe(1);
      expect(loaded.stderr).toMatch(
        new RegExp(
          `000001-tools\\.tar[^:]*: entry blobs/sha256/[a-f0-9]{64}: upload of ${proxy.host}/${path}/tools@sha256:[a-f0-9]{64}: ` +
            'the connection broke while the blob went in one request \\(ECONNRESET\\), and again while it went in chunks: PATCH ',
        ),
      );
      for (const manifest of manifestsChildrenFirst(images.sources2))
        expect((await fetch(`${far.url}/v2/${path}/tools/manifests/${manifest.digest}`, { method: 'HEAD' })).status).toBe(404);
      expect((await fetch(`${far.url}/v2/${path}/tools/manifests/sources2`, { method: 'HEAD' })).status).toBe(404);
    } finally {
      await proxy.stop();
      await rm(join(syncDirs[compression] as string, 'successful-syncs.csv'), { force: true });
    }
  });
});

describe("a zstd tar's blob over what uploads hold in memory", () => {
  /**
   * PUT and PATCH bodies as the proxy saw them: `PUT 41943552`, `PATCH 16777216`, `PUT 0`; `→ 413` after one it
   * refused (read whole first), `→ reset` after one it cut once that many bytes went.
   */
  async function loadVia(path: string, refuseReadBodies?: number, how: '413' | 'reset' = '413'): Promise<string[]> {
    const bodies: string[] = [];
    const proxy = await startLoopbackServer((req, res) => {
      const length = Number(req.headers['content-length'] ?? 0);
      if ((req.method !== 'PUT' && req.method !== 'PATCH') || !req.url?.includes('/blobs/uploads/')) return proxyTo(far.url, req, res);
      bodies.push(`${req.method} ${length}`);
      if (refuseReadBodies === undefined || length <= refuseReadBodies) return proxyTo(far.url, req, res);
      bodies.push(`→ ${how}`);
      if (how === 'reset')
        return proxyTo(far.url, req, res, { cutBodies: { overBytes: refuseReadBodies, afterBytes: refuseReadBodies, how } });
      req.resume(); // a proxy that takes the body whole before it judges it
      req.once('end', () => res.writeHead(413).end());
    });
    try {
      const loaded = await runCli(['deserialize', bigSyncDir, `${proxy.host}/${path}`]);
      expect(loaded.stderr, loaded.stderr).not.toMatch(/error|warning/i);
      expect(loaded.code).toBe(0);
      expect(await resolveTag(far.url, `${path}/big`, 'v1')).toBe(big.root.digest);
      return bodies;
    } finally {
      await proxy.stop();
      await rm(join(bigSyncDir, 'successful-syncs.csv'), { force: true });
    }
  }
  const layer = () => [...big.blobs.values()].reduce((most, bytes) => Math.max(most, bytes.byteLength), 0);

  test('streams up in one PUT while the tar is read', async () => {
    expect((await loadVia('whole')).filter((body) => body === `PUT ${layer()}`)).toHaveLength(1);
  });

  test.each(['413', 'reset'] as const)('refused (%s) once the proxy read most of it, goes up again in chunks', async (how) => {
    const bodies = await loadVia(`refused-${how}`, 32 * MiB, how);
    expect(bodies.slice(bodies.indexOf(`PUT ${layer()}`), bodies.indexOf(`PUT ${layer()}`) + 2)).toEqual([`PUT ${layer()}`, `→ ${how}`]);
    expect(bodies.filter((body) => body.startsWith('PATCH')).length).toBeGreaterThanOrEqual(3);
  });
});
