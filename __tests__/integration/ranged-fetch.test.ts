/**
 * A big layer is fetched as bounded byte ranges over several connections at once and joined in order: a real registry
 * behind loopback proxies that ignore Range, drop Content-Range, cut a range short, or redirect to a blob store, and a
 * delay line (a link with a round trip, where one connection does not keep up with the writer). Whatever the
 * concurrency and whatever the server does, the tar is the same bytes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, beforeEach, expect, test, vi } from 'vitest';
import type { Descriptor } from '../../src/core/oci/descriptor.ts';
import type { ReadOnlyStorage } from '../../src/core/oci/storage.ts';
import { sha256 } from '../../src/core/oci/digest.ts';
import { parseReference } from '../../src/core/oci/reference.ts';
import type { BasicCredentials } from '../../src/core/registry/keychain.ts';
import { Prefetcher } from '../../src/core/serialize/prefetch.ts';
import { runBatch } from '../../src/core/serialize/run.ts';
import { RegistryAndLayoutStorages } from '../../src/core/serialize/storages.ts';
import { layersOf, makeImage, pushImageSet } from '../../testkit/images.ts';
import { startDelayLine, type DelayLine, type LinkProfile } from '../../testkit/delay-line.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';
import { readTar } from './support/tar-contents.ts';
import { proxyTo, startLoopbackServer, type LoopbackServer, type ProxyOptions, type RecordedRequest } from '../support/redirect-server.ts';
import { batchSettings } from '../support/batch-settings.ts';

const MiB = 1024 * 1024;
/** A short round trip and a cap on each connection well below what the writer takes: pieces pay off. */
const LINK: LinkProfile = { rttMs: 4, bytesPerSecond: 40_000_000 };

let registry: RunningRegistry;
let proxy: LoopbackServer;
/** In front of `proxy`: where the tests' downloads come from. */
let line: DelayLine;
let work: string;
let big: Descriptor;
let bigToo: Descriptor;
/** Past the largest window (prefetch.ts, 64 MiB), alone in its image: for the window test. */
let huge: Descriptor;
/** Per test: how the proxy treats each request. */
let misbehave: (req: IncomingMessage) => ProxyOptions;
/** The connections requests came on since the test began, and those the big layer's came on. */
const connections = new Set<Socket>();
const bigConnections = new Set<Socket>();
/** GETs of a layer the proxy is answering now, and the most there were at once since the test began. */
let layerGets = 0;
let mostLayerGets = 0;
/** The tar of `ranged,LINE/ranged:v1` as the first test wrote it. */
let reference: Written | undefined;

interface Written {
  path: string;
  sha256: string;
}

beforeAll(async () => {
  registry = await startRegistry();
  // Both past two of the largest pieces (link-estimate.ts, 8 MiB): they come in pieces whatever the link measures.
  const image = await makeImage('ranged', { layers: [20 * MiB, 3000, 17 * MiB] });
  [big, , bigToo] = layersOf(image) as [Descriptor, Descriptor, Descriptor];
  await pushImageSet(registry.url, 'ranged', 'v1', image);
  const hugeImage = await makeImage('window', { layers: [80 * MiB] });
  [huge] = layersOf(hugeImage) as [Descriptor];
  await pushImageSet(registry.url, 'window', 'v1', hugeImage);
  proxy = await startLoopbackServer(async (req, res) => {
    connections.add(req.socket);
    if (req.method === 'GET' && req.url === `/v2/ranged/blobs/${big.digest}`) bigConnections.add(req.socket);
    const layer = req.method === 'GET' && [big, bigToo].some((blob) => req.url === `/v2/ranged/blobs/${blob.digest}`);
    if (layer) mostLayerGets = Math.max(mostLayerGets, ++layerGets);
    try {
      await proxyTo(registry.url, req, res, misbehave(req));
    } finally {
      if (layer) layerGets--;
    }
  });
  line = await startDelayLine(proxy.host, LINK);
  work = await mkdtemp(join(tmpdir(), 'bs-ranged-'));
});
afterAll(async () => {
  await line?.stop();
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  misbehave = () => ({});
  connections.clear();
  bigConnections.clear();
  mostLayerGets = layerGets;
});

let runs = 0;
/** batch-serialize of `ranged,HOST/ranged:v1` into a fresh sync directory, in this process. */
async function serialize(host: string, concurrency: number, credentials: Record<string, BasicCredentials> = {}): Promise<Written> {
  const dir = join(work, `run-${++runs}`);
  const batchFile = `${dir}.csv`;
  await writeFile(batchFile, `name,artifact\nranged,${host}/ranged:v1\n`);
  const storages = new RegistryAndLayoutStorages({ insecureRegistries: [], credentials, retry: { attempts: 3, baseDelayMs: 5 } });
  try {
    const { written } = await runBatch(batchSettings(batchFile, dir, { concurrency }), storages);
    expect(written).toHaveLength(1);
    return written[0]!;
  } finally {
    await storages.close();
  }
}

/** The tar's sha256 every test through `line` must write: one download at a time, each blob whole. */
async function expected(): Promise<string> {
  reference ??= await serialize(line.host, 1);
  return reference.sha256;
}

/** A tar's entries but index.json (which names the registry host), as name and sha256: a registry's bytes, however fetched. */
async function contents(path: string): Promise<string[]> {
  const entries = (await readTar(path)).filter((entry) => entry.name !== 'index.json');
  return entries.map((entry) => `${entry.name} ${sha256(entry.bytes)}`);
}

/** GETs of `layer` that reached `server` since `from`. */
function gets(server: LoopbackServer, from: number, layer = big): RecordedRequest[] {
  return server.requests.slice(from).filter((r) => r.method === 'GET' && r.url.endsWith(`/blobs/${layer.digest}`));
}

/**
 * GETs of `layer` since `from` answered 200 and sent to their end, once every exchange is over: a server that ignores
 * Range sends the layer whole to each; those dropped at their headers are cut short.
 */
async function wholeAnswers(server: LoopbackServer, from: number, layer = big): Promise<number> {
  await vi.waitFor(() => expect(gets(server, from, layer).every((r) => r.answered !== undefined)).toBe(true));
  return gets(server, from, layer).filter((r) => r.answered?.status === 200 && r.answered.complete).length;
}

/** A request's Range as [first, last] byte; it must be bounded (`bytes=N-` would have a store send the rest of the blob). */
function rangeOf(request: RecordedRequest): [number, number] {
  const match = /^bytes=(\d+)-(\d+)$/.exec(String(request.headers.range));
  expect(match, `Range of ${request.url}: ${String(request.headers.range)}`).not.toBeNull();
  return [Number(match![1]), Number(match![2])];
}

/** The ranges, in order, cover the blob exactly once. */
function expectCovering(ranges: Array<[number, number]>, layer: Descriptor): void {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  expect(sorted[0]![0]).toBe(0);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i]![0]).toBe(sorted[i - 1]![1] + 1);
  expect(sorted.at(-1)![1]).toBe(layer.size - 1);
}

test('big layers come in bounded ranges, several at once, joined into the same tar whatever the concurrency', async () => {
  const tar = await expected();
  for (const concurrency of [2, 4, 8]) {
    const before = proxy.requests.length;
    bigConnections.clear();
    expect((await serialize(line.host, concurrency)).sha256).toBe(tar);
    for (const layer of [big, bigToo]) {
      const ranges = gets(proxy, before, layer).map(rangeOf);
      expect(ranges.length).toBeGreaterThan(1);
      expectCovering(ranges, layer);
    }
    // Connections are reused: a second one carried pieces of the layer only because the first was busy with another.
    expect(bigConnections.size, `concurrency ${concurrency}`).toBeGreaterThan(1);
  }
});

test('connections are reused from piece to piece: as many as downloads run at once, and the first', async () => {
  const tar = await expected();
  connections.clear();
  const before = proxy.requests.length;
  expect((await serialize(line.host, 2)).sha256).toBe(tar);
  expect(gets(proxy, before).length + gets(proxy, before, bigToo).length).toBeGreaterThan(4);
  // A piece sent as the last ends reuses its connection, warm, rather than opening another (TCP starts slowly again):
  // the two downloads', and the manifests' first.
  expect(connections.size).toBeLessThanOrEqual(3);
});

test('the concurrency bounds what runs at once, on a slow link too: never one download more', async () => {
  const tar = await expected();
  for (const concurrency of [2, 3]) {
    mostLayerGets = 0;
    expect((await serialize(line.host, concurrency)).sha256).toBe(tar);
    // That pieces do overlap is the first test's (a second connection carried pieces of one layer); how many at once
    // depends on the machine's load, the bound does not.
    expect(mostLayerGets, `concurrency ${concurrency}`).toBeLessThanOrEqual(concurrency);
  }
});

test('the downloads find their connections open: they were opened while the artifact was resolved', async () => {
  /** Each connection, by the request it first carried. */
  const opened = new Map<Socket, string>();
  const blobSockets = new Set<Socket>();
  const front = await startLoopbackServer(async (req, res) => {
    if (!opened.has(req.socket)) opened.set(req.socket, `${req.method} ${req.url}`);
    if (req.method === 'GET' && req.url?.includes('/blobs/')) blobSockets.add(req.socket);
    // The resolve answers after the connections' pings, as across a network: in this one process, under load, a ping
    // could still be on its way when the downloads began, and one of them took a new connection.
    if (req.url?.includes('/manifests/')) await new Promise((resolve) => setTimeout(resolve, 100));
    return proxyTo(registry.url, req, res);
  });
  try {
    await expected();
    expect(await contents((await serialize(front.host, 4)).path)).toEqual(await contents(reference!.path));
    expect(blobSockets.size).toBeGreaterThan(1);
    // Before: the downloads opened their own, a TCP and TLS handshake each before their first byte.
    for (const socket of blobSockets) expect(opened.get(socket)).not.toMatch(/\/blobs\//);
    expect(opened.size).toBeLessThanOrEqual(4 + 1);
  } finally {
    await front.stop();
  }
});

test('a registry that ignores Range: one answer is the whole layer, one stream; nothing is fetched twice', async () => {
  misbehave = () => ({ ignoreRange: true });
  const tar = await expected();
  const before = proxy.requests.length;
  expect((await serialize(line.host, 4)).sha256).toBe(tar);
  // The first big layer's pieces went at once, before any answer: one whole answer was kept, the others cut at their
  // headers. The next layer's first piece went alone, as the storage had shown it sends no parts.
  expect(gets(proxy, before).length).toBeGreaterThan(1);
  expect(await wholeAnswers(proxy, before)).toBe(1);
  const asked = gets(proxy, before, bigToo);
  expect(asked).toHaveLength(1);
  expect(rangeOf(asked[0]!)[0]).toBe(0);
  expect(await wholeAnswers(proxy, before, bigToo)).toBe(1);
});

test('a 206 without Content-Range is not trusted: the layer comes from a plain GET, and only one is read', async () => {
  misbehave = () => ({ dropContentRange: true });
  const tar = await expected();
  const before = proxy.requests.length;
  expect((await serialize(line.host, 4)).sha256).toBe(tar);
  for (const layer of [big, bigToo]) {
    const plain = gets(proxy, before, layer).filter((r) => r.headers.range === undefined);
    expect(plain.filter((r) => r.answered?.complete)).toHaveLength(1);
    expect(await wholeAnswers(proxy, before, layer)).toBe(1);
  }
  // The next layer's first piece went alone: one range, then one plain GET.
  expect(gets(proxy, before, bigToo)).toHaveLength(2);
});

for (const resumeAnswer of ['a range', 'the whole layer'] as const) {
  test(`a range cut short is resumed with a bounded range from the byte where it broke, answered with ${resumeAnswer}`, async () => {
    let cut: number | undefined;
    misbehave = (req) => {
      const range = /^bytes=(\d+)-/.exec(req.headers.range ?? '');
      if (range === null || range[1] === '0' || req.url !== `/v2/ranged/blobs/${big.digest}`) return {};
      if (cut === undefined) {
        cut = Number(range[1]);
        return { cutAfter: 100_000 };
      }
      // The resume of the cut range: a server that ignores Range sends the layer from its first byte.
      return { ignoreRange: resumeAnswer === 'the whole layer' && Number(range[1]) === cut + 100_000 };
    };
    const tar = await expected();
    const before = proxy.requests.length;
    expect((await serialize(line.host, 4)).sha256).toBe(tar);
    const ranges = gets(proxy, before).map(rangeOf);
    const [, last] = ranges.find(([first]) => first === cut)!;
    const resumed = ranges.filter(([first]) => first === cut! + 100_000);
    expect(resumed).toEqual([[cut! + 100_000, last]]);
    expectCovering(
      ranges.filter((range) => range !== resumed[0]),
      big,
    );
  });
}

test('a redirect to a blob store: ranges go there too, without Authorization; a store that ignores Range gives one stream', async () => {
  const basic = 'Basic ' + Buffer.from('bob:pw').toString('base64');
  let storeIgnoresRange = false;
  const store = await startLoopbackServer((req, res) => proxyTo(registry.url, req, res, { ignoreRange: storeIgnoresRange }));
  const storeLine = await startDelayLine(store.host, LINK);
  const front = await startLoopbackServer((req, res) => {
    if (req.headers.authorization !== basic) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="front"' }).end();
    if (req.url?.startsWith('/v2/ranged/blobs/')) return void res.writeHead(307, { location: `http://${storeLine.host}${req.url}` }).end();
    return proxyTo(registry.url, req, res);
  });
  const frontLine = await startDelayLine(front.host, LINK);
  const credentials = { [frontLine.host]: { username: 'bob', password: 'pw' } };
  try {
    await expected();
    const theirs = await contents(reference!.path);
    expect(await contents((await serialize(frontLine.host, 4, credentials)).path)).toEqual(theirs);
    const fromFront = gets(front, 0);
    const fromStore = gets(store, 0);
    expect(fromFront.length).toBeGreaterThan(1);
    expect(fromFront.map((r) => r.headers.authorization)).toEqual(fromFront.map(() => basic));
    expect(fromStore.map((r) => r.headers.authorization)).toEqual(fromStore.map(() => undefined));
    expectCovering(fromStore.map(rangeOf), big);

    storeIgnoresRange = true;
    const storeBefore = store.requests.length;
    expect(await contents((await serialize(frontLine.host, 4, credentials)).path)).toEqual(theirs);
    for (const layer of [big, bigToo]) expect(await wholeAnswers(store, storeBefore, layer)).toBe(1);
    expect(gets(store, storeBefore, bigToo)).toHaveLength(1);
  } finally {
    await frontLine.stop();
    await storeLine.stop();
    await front.stop();
    await store.stop();
  }
});

test('a writer that takes nothing: the downloads ask for no more bytes than the window holds, then go on as it reads', async () => {
  const storages = new RegistryAndLayoutStorages({ insecureRegistries: [] });
  const before = proxy.requests.length;
  const prefetcher = new Prefetcher(storages.open(parseReference(`${line.host}/window:v1`)), [huge], { concurrency: 2 });
  const [first] = prefetcher.blobs();
  const hugeGets = () => proxy.requests.slice(before).filter((r) => r.method === 'GET' && r.url === `/v2/window/blobs/${huge.digest}`);
  try {
    const firstBody = await first!.open();
    const asked = await settled(() => hugeGets().length);
    const bytes = hugeGets()
      .map(rangeOf)
      .reduce((sum, [a, b]) => sum + b - a + 1, 0);
    expect(asked).toBeGreaterThan(0);
    // At most the largest window (64 MiB); the stream buffers behind the writer took a little.
    expect(bytes).toBeLessThanOrEqual(64 * MiB + MiB);
    expect(bytes).toBeLessThan(huge.size);

    expect(await length(firstBody)).toBe(huge.size);
    expectCovering(hugeGets().map(rangeOf), huge);
  } finally {
    await prefetcher.close();
    await storages.close();
  }
});

test('parts answered late, their bytes already here, do not make the link look like loopback: the next layer comes in pieces', async () => {
  // This thread busy writing the tar reads an answer late, its bytes waiting in the socket meanwhile: here the bytes of
  // each part but a layer's first are all read before its answer is handed over, 300 ms after its request went out
  // (the first parts tell the round trip).
  const storages = new RegistryAndLayoutStorages({ insecureRegistries: [] });
  const registryStorage = storages.open(parseReference(`${line.host}/ranged:v1`));
  const late: ReadOnlyStorage = {
    location: registryStorage.location,
    resolve: (selector) => registryStorage.resolve(selector),
    fetchManifest: (descriptor) => registryStorage.fetchManifest(descriptor),
    fetchBlob: (descriptor) => registryStorage.fetchBlob(descriptor),
    exists: (descriptor) => registryStorage.exists(descriptor),
    fetchBlobPart: async (descriptor, start, end) => {
      const sent = performance.now();
      const part = await registryStorage.fetchBlobPart!(descriptor, start, end);
      if (start === 0) return part;
      const bytes = await buffer(part.body);
      await new Promise((resolve) => setTimeout(resolve, 300 - (performance.now() - sent)));
      return { whole: part.whole, body: Readable.from([bytes]) };
    },
  };
  const before = proxy.requests.length;
  const prefetcher = new Prefetcher(late, [big, bigToo], { concurrency: 4 });
  try {
    for (const blob of prefetcher.blobs()) expect(await length(await blob.open())).toBe(blob.descriptor.size);
    expect(gets(proxy, before, bigToo).length).toBeGreaterThan(1);
    expectCovering(gets(proxy, before, bigToo).map(rangeOf), bigToo);
  } finally {
    await prefetcher.close();
    await storages.close();
  }
});

/** `count()` once it has stopped changing (the downloads stopped asking). */
async function settled(count: () => number): Promise<number> {
  for (let last = -1; ;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = count();
    if (now === last) return now;
    last = now;
  }
}

async function length(stream: Readable): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += (chunk as Buffer).byteLength;
  return bytes;
}
