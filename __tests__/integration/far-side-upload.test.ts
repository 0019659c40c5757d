/**
 * How deserialize uploads, seen from a loopback proxy in front of the far registry: several blobs at once (a plain
 * tar by byte ranges, a compressed one from memory or staged files while the stream goes on), manifests of one level
 * side by side, and through a proxy that refuses request bodies over 1 MiB (as nginx's default client_max_body_size):
 * chunks, smaller after each 413; and through one that resets the connection of a big body instead (chunks, and a
 * clear failure when it resets chunks too). A compressed tar's big blobs are staged in TMPDIR and go up side by side,
 * each in one PUT; with TMPDIR read-only or full they stream up one at a time instead. Refused (413 or reset) once
 * most of it was read, a big blob goes up again.
 */
import { mkdir, mkdtemp, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
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
import { makeReadOnly, mountTmpfs, unmount } from './support/tmpfs.ts';

const MiB = 1024 * 1024;
let far: RunningRegistry;
let images: TutorialImages;
let work: string;
/** The tutorial's sources2 with layers of up to 1.8 MB, serialized uncompressed and with zstd. */
const syncDirs: Record<string, string> = {};
/** An image with two 17 MiB layers (each over what a compressed tar's uploads hold in memory), serialized with zstd. */
let big: ImageSet;
let bigSyncDir: string;
/** TMPDIR for the CLI: where it stages, and a read-only one, and one with 1 MiB of room (tmpfs, as root). */
const tmp: Record<'writable' | 'read-only' | 'full', string> = { writable: '', 'read-only': '', full: '' };

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
  big = await makeImage('big', { layers: [17 * MiB, 17 * MiB] });
  const bigStore = join(work, 'big-store');
  await writeOciLayout(bigStore, big.blobs, [{ descriptor: big.root, tag: 'v1' }]);
  await writeFile(batch, `name,artifact\nbig,ocidir://${bigStore}:v1\n`);
  bigSyncDir = join(work, 'big');
  const serialized = await runCli([batch, bigSyncDir, '--compression', 'zstd']);
  expect(serialized.code, serialized.stderr).toBe(0);
  for (const kind of ['writable', 'read-only', 'full'] as const) await mkdir((tmp[kind] = join(work, `tmp-${kind}`)));
  await makeReadOnly(tmp['read-only']);
  if (process.getuid?.() === 0) await mountTmpfs(tmp.full, MiB);
}, 120_000);
afterAll(async () => {
  await far?.stop();
  await Promise.all([unmount(tmp['read-only']), unmount(tmp.full)]);
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
    // Every chunk cut before its end, the smallest too.
    const cutBodies: BodyCut = { overBytes: MiB, afterBytes: 32 * 1024, how: 'reset', patches: Number.POSITIVE_INFINITY };
    const proxy = await watchingProxy({ cutBodies });
    const path = `cut-all-${compression}`;
    try {
      const loaded = await runCli(['deserialize', syncDirs[compression] as string, `${proxy.host}/${path}`]);
      expect(loaded.code).toBe(1);
      expect(loaded.stderr).toMatch(
        new RegExp(
          `000001-tools\\.tar[^:]*: entry blobs/sha256/[a-f0-9]{64}: upload of ${proxy.host}/${path}/tools@sha256:[a-f0-9]{64}: ` +
            'the connection broke \\(ECONNRESET\\) under chunks down to 65536 bytes: PATCH ',
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

describe("a zstd tar's blobs over what uploads hold in memory", () => {
  /**
   * PUT and PATCH bodies as the proxy saw them: `PUT 17830400`, `PATCH 8915200`, `PUT 0`; `→ 413` after one it
   * refused (read whole first), `→ reset` after one it cut once that many bytes went. TMPDIR is the writable one
   * unless told.
   */
  async function loadVia(path: string, refusal?: { over: number; how: '413' | 'reset' }, tmpdir = tmp.writable): Promise<string[]> {
    const bodies: string[] = [];
    const proxy = await startLoopbackServer((req, res) => {
      const length = Number(req.headers['content-length'] ?? 0);
      if ((req.method !== 'PUT' && req.method !== 'PATCH') || !req.url?.includes('/blobs/uploads/')) return proxyTo(far.url, req, res);
      bodies.push(`${req.method} ${length}`);
      if (refusal === undefined || length <= refusal.over) return proxyTo(far.url, req, res);
      const { over, how } = refusal;
      bodies.push(`→ ${how}`);
      if (how === 'reset') return proxyTo(far.url, req, res, { cutBodies: { overBytes: over, afterBytes: over, how } });
      req.resume(); // a proxy that takes the body whole before it judges it
      req.once('end', () => res.writeHead(413).end());
    });
    try {
      await expectLoads(bigSyncDir, `${proxy.host}/${path}`, { ...process.env, TMPDIR: tmpdir });
      expect(await resolveTag(far.url, `${path}/big`, 'v1')).toBe(big.root.digest);
      return bodies;
    } finally {
      await proxy.stop();
    }
  }
  const layers = () => [...big.blobs.values()].filter((bytes) => bytes.byteLength > MiB).map((bytes) => bytes.byteLength);
  const bodiesOf = (proxy: LoopbackServer) => proxy.requests.map((request) => `${request.method} ${request.headers['content-length']}`);
  /** The PUTs of a big blob whole, sorted. */
  const wholePuts = (bodies: string[]) => bodies.filter((body) => body.startsWith('PUT ') && Number(body.slice(4)) > MiB).sort();

  /**
   * A proxy that holds each big body back (unread) for `holdMs`, or until another one arrives: `sideBySide()` says
   * whether one did, `staged()` names the files under TMPDIR the CLI (`pid()`) held open then.
   */
  async function holdingProxy(holdMs: number, pid: () => number) {
    let sideBySide = false;
    let staged: string[] = [];
    const held = new Set<() => void>();
    const proxy = await startLoopbackServer(async (req, res) => {
      if (Number(req.headers['content-length'] ?? 0) <= MiB) return proxyTo(far.url, req, res);
      if (held.size > 0) {
        sideBySide = true;
        staged = await filesOpenIn(pid(), tmp.writable);
        for (const release of held) release();
      } else {
        await new Promise<void>((resolve) => {
          const release = () => held.delete(release) && resolve();
          held.add(release);
          setTimeout(release, holdMs);
        });
      }
      await proxyTo(far.url, req, res);
    });
    return { ...proxy, sideBySide: () => sideBySide, staged: () => staged };
  }

  test('they go up side by side, each in one PUT, while the tar is read, from private files staged in TMPDIR', async () => {
    // Streamed, the second never came while the first was held: the tar was read as the first went up.
    let pid = 0;
    const proxy = await holdingProxy(5000, () => pid);
    try {
      await expectLoads(bigSyncDir, `${proxy.host}/side-by-side`, { ...process.env, TMPDIR: tmp.writable }, (spawned) => (pid = spawned));
      expect(proxy.sideBySide()).toBe(true);
      expect(wholePuts(bodiesOf(proxy))).toEqual(wholePuts(layers().map((size) => `PUT ${size}`)));
      // Never named (O_TMPFILE: the kernel calls it `/#INODE`), readable by the owner alone: nothing to clean up, whatever
      // ends the run.
      expect(proxy.staged()).toHaveLength(2);
      for (const file of proxy.staged()) expect(file).toMatch(new RegExp(`^${tmp.writable}/#\\d+ \\(deleted\\), mode 600$`));
      expect(await readdir(tmp.writable)).toEqual([]);
      expect(await resolveTag(far.url, 'side-by-side/big', 'v1')).toBe(big.root.digest);
    } finally {
      await proxy.stop();
    }
  });

  test.each(['read-only', 'full'] as const)('with TMPDIR %s they stream up, one at a time, each in one PUT', async (kind) => {
    expect(process.getuid?.() === 0 || kind === 'read-only', 'a full TMPDIR takes a tmpfs, which takes root').toBe(true);
    const proxy = await holdingProxy(500, () => 0);
    try {
      await expectLoads(bigSyncDir, `${proxy.host}/tmp-${kind}`, { ...process.env, TMPDIR: tmp[kind] });
      expect(proxy.sideBySide()).toBe(false);
      expect(wholePuts(bodiesOf(proxy))).toEqual(wholePuts(layers().map((size) => `PUT ${size}`)));
      expect(await readdir(tmp[kind])).toEqual([]);
      expect(await resolveTag(far.url, `tmp-${kind}/big`, 'v1')).toBe(big.root.digest);
    } finally {
      await proxy.stop();
    }
  });

  test('after a run that failed or was killed nothing is left in TMPDIR', async () => {
    // Every chunk cut before its end, the smallest too.
    const cutBodies: BodyCut = { overBytes: MiB, afterBytes: 32 * 1024, how: 'reset', patches: Number.POSITIVE_INFINITY };
    const failing = await startLoopbackServer((req, res) => proxyTo(far.url, req, res, { cutBodies }));
    let pid = 0;
    const killing = await startLoopbackServer((req, res) => {
      if (Number(req.headers['content-length'] ?? 0) <= MiB) return proxyTo(far.url, req, res);
      process.kill(pid, 'SIGKILL'); // the first big blob is staged, and the scan is staging the next
    });
    try {
      const env = { ...process.env, TMPDIR: tmp.writable };
      const failed = await runCli(['deserialize', bigSyncDir, `${failing.host}/failed`], { env });
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/the connection broke/);
      expect(await readdir(tmp.writable)).toEqual([]);
      const killed = await runCli(['deserialize', bigSyncDir, `${killing.host}/killed`], { env, spawned: (spawned) => (pid = spawned) });
      expect(killed.code).not.toBe(0);
      expect(await readdir(tmp.writable)).toEqual([]);
    } finally {
      await Promise.all([failing.stop(), killing.stop()]);
      await rm(join(bigSyncDir, 'successful-syncs.csv'), { force: true });
    }
  });

  test.each([
    ['staged', '413'],
    ['staged', 'reset'],
    ['streamed (TMPDIR read-only)', '413'],
    ['streamed (TMPDIR read-only)', 'reset'],
  ] as const)('%s, refused (%s) once the proxy read most of it, goes up again in chunks', async (how, refused) => {
    const [layer] = layers();
    const tmpdir = how === 'staged' ? tmp.writable : tmp['read-only'];
    const bodies = await loadVia(`refused-${refused}-${how.split(' ')[0]}`, { over: 12 * MiB, how: refused }, tmpdir);
    expect(bodies.slice(bodies.indexOf(`PUT ${layer}`), bodies.indexOf(`PUT ${layer}`) + 2)).toEqual([`PUT ${layer}`, `→ ${refused}`]);
    expect(bodies.filter((body) => body.startsWith('PATCH')).length).toBeGreaterThanOrEqual(3);
  });

  test.each([
    ['staged', tmp.writable],
    ['streamed (TMPDIR read-only)', tmp['read-only']],
  ] as const)('%s, through a proxy that resets chunks over 4 MiB too: chunks halved until they pass', async (how, tmpdir) => {
    const [layer = 0] = layers();
    const bodies = await loadVia(`reset-chunks-${how.split(' ')[0]}`, { over: 4 * MiB, how: 'reset' }, tmpdir);
    const half = Math.ceil(layer / 2);
    const quarter = Math.ceil(half / 2);
    // Both layers go up side by side when staged: their requests interleave.
    expect(bodies).toEqual(
      expect.arrayContaining([`PUT ${layer}`, `PATCH ${half}`, `PATCH ${quarter}`, `PATCH ${Math.ceil(quarter / 2)}`]),
    );
  });
});

/** Deserializes `dir` to `destination` with `env`, expecting it to load without a word of error or warning. */
async function expectLoads(dir: string, destination: string, env: NodeJS.ProcessEnv, spawned?: (pid: number) => void): Promise<void> {
  try {
    const loaded = await runCli(['deserialize', dir, destination], { env, spawned });
    expect(loaded.stderr, loaded.stderr).not.toMatch(/error|warning/i);
    expect(loaded.code).toBe(0);
  } finally {
    await rm(join(dir, 'successful-syncs.csv'), { force: true });
  }
}

/** The files process `pid` holds open under `dir`, as its descriptors name them, with their modes: `PATH, mode 600`. */
async function filesOpenIn(pid: number, dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const path = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (path.startsWith(`${dir}/`)) files.push(`${path}, mode ${((await stat(`/proc/${pid}/fd/${fd}`)).mode & 0o777).toString(8)}`);
  }
  return files;
}
