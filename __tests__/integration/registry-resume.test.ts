/**
 * A blob download that breaks in the middle of its body resumes with a Range request from the byte where it broke:
 * a real registry behind loopback proxies that reset or truncate the body, ignore Range, or redirect to a blob store.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Descriptor } from '../../src/core/oci/descriptor.ts';
import { parseReference } from '../../src/core/oci/reference.ts';
import { RegistryClient } from '../../src/core/registry/client.ts';
import { StaticKeychain } from '../../src/core/registry/keychain.ts';
import type { RetryEvent } from '../../src/core/registry/retry.ts';
import { Prefetcher } from '../../src/core/serialize/prefetch.ts';
import { runBatch, type BatchResult } from '../../src/core/serialize/run.ts';
import { RegistryAndLayoutStorages } from '../../src/core/serialize/storages.ts';
import { layersOf, makeImage, pushImageSet } from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';
import { proxyTo, startLoopbackServer, type LoopbackServer, type RecordedRequest } from '../support/redirect-server.ts';
import { blobDigests, readTar } from './support/tar-contents.ts';
import { batchSettings } from '../support/batch-settings.ts';

const MiB = 1024 * 1024;

interface Cut {
  /** `reset`: an RST (the client sees ECONNRESET); `truncate`: a FIN before Content-Length bytes (`other side closed`). */
  how: 'reset' | 'truncate';
  /** The blob byte at which the body stops, whatever byte the response started at. */
  at: number;
  /** Responses left to cut. */
  times: number;
}

let registry: RunningRegistry;
let proxy: LoopbackServer;
let work: string;
let layer: Descriptor;
let manifest: Descriptor;
/** Set per test: how the proxy mangles GETs of `cutPath` (the layer unless a test says otherwise). */
let cut: Cut | undefined;
let cutPath = '';
let ignoreRange = false;

beforeAll(async () => {
  registry = await startRegistry();
  const image = await makeImage('resume', { layers: [3 * MiB] });
  layer = layersOf(image)[0]!;
  manifest = image.root;
  await pushImageSet(registry.url, 'resume', 'v1', image);
  proxy = await startLoopbackServer((req, res) =>
    req.method === 'GET' && req.url === cutPath ? forwardCutting(registry.url, req, res) : proxyTo(registry.url, req, res),
  );
  work = await mkdtemp(join(tmpdir(), 'bs-resume-'));
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  cut = undefined;
  cutPath = `/v2/resume/blobs/${layer.digest}`;
  ignoreRange = false;
});

/** Forwards a GET (without its Range header when `ignoreRange`), and stops the body at `cut.at` while `cut.times` lasts. */
function forwardCutting(target: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers = { ...req.headers };
  if (ignoreRange) delete headers.range;
  return new Promise((resolve, reject) => {
    const upstream = httpRequest(new URL(req.url ?? '/', target), { method: 'GET', headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      res.flushHeaders();
      let position = Number(/^bytes (\d+)-/.exec(answer.headers['content-range'] ?? '')?.[1] ?? 0);
      answer.on('data', (chunk: Buffer) => {
        const now = cut;
        if (now !== undefined && now.times > 0 && position + chunk.byteLength >= now.at) {
          now.times--;
          answer.destroy();
          res.write(chunk.subarray(0, Math.max(0, now.at - position)), () =>
            now.how === 'reset' ? req.socket.resetAndDestroy() : req.socket.end(),
          );
          return resolve();
        }
        position += chunk.byteLength;
        if (!res.write(chunk)) {
          answer.pause();
          res.once('drain', () => answer.resume());
        }
      });
      answer.on('end', () => {
        res.end();
        resolve();
      });
    });
    upstream.on('error', reject);
    upstream.end();
  });
}

/** The GETs of the layer that reached `server` since `from`. */
function layerGets(server: LoopbackServer, from = 0): RecordedRequest[] {
  return server.requests.slice(from).filter((r) => r.method === 'GET' && r.url.endsWith(`/blobs/${layer.digest}`));
}

let runs = 0;
/** batch-serialize of `resume,PROXY/resume:v1` into a fresh sync directory, in this process. */
async function serialize(events: RetryEvent[] = []): Promise<{ result: BatchResult; syncDir: string }> {
  const dir = join(work, `run-${++runs}`);
  const batchFile = `${dir}.csv`;
  await writeFile(batchFile, `name,artifact\nresume,${proxy.host}/resume:v1\n`);
  const storages = new RegistryAndLayoutStorages({
    insecureRegistries: [],
    retry: { attempts: 3, baseDelayMs: 5, onRetry: (event) => events.push(event) },
  });
  try {
    return { result: await runBatch(batchSettings(batchFile, dir), storages), syncDir: dir };
  } finally {
    await storages.close();
  }
}

async function expectLayerInTar({ result }: { result: BatchResult }): Promise<void> {
  expect(result.written).toHaveLength(1);
  expect(blobDigests(await readTar(result.written[0]!.path))).toContain(layer.digest);
}

const rangeFrom = (request: RecordedRequest): number => {
  const match = /^bytes=(\d+)-(\d+)$/.exec(String(request.headers.range));
  expect(match, `Range of ${request.url}: ${String(request.headers.range)}`).not.toBeNull();
  expect(Number(match![2])).toBe(layer.size - 1);
  return Number(match![1]);
};

describe('a layer whose body breaks once', () => {
  test('a reset mid-blob: the run succeeds, the blob resumes with one Range request from where it broke', async () => {
    cut = { how: 'reset', at: MiB, times: 1 };
    const before = proxy.requests.length;
    const events: RetryEvent[] = [];
    await expectLayerInTar(await serialize(events));
    const gets = layerGets(proxy, before);
    expect(gets).toHaveLength(2);
    expect(gets[0]!.headers.range).toBeUndefined();
    const from = rangeFrom(gets[1]!);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(MiB);
    expect(events).toHaveLength(1);
    expect(events[0]!.what).toBe(`GET ${proxy.origin}/v2/resume/blobs/${layer.digest}`);
    expect(events[0]!.reason).toMatch(new RegExp(`(ECONNRESET|other side closed).* at byte ${from} of ${layer.size}$`));
  });

  test('a body cut short (the server closes before Content-Length): resumed at exactly that byte', async () => {
    cut = { how: 'truncate', at: 2 * MiB + 1, times: 1 };
    const before = proxy.requests.length;
    await expectLayerInTar(await serialize());
    const gets = layerGets(proxy, before);
    expect(gets).toHaveLength(2);
    expect(rangeFrom(gets[1]!)).toBe(2 * MiB + 1);
  });

  test('a registry that ignores Range answers 200 with the whole blob: its first bytes are dropped, the digest still checks', async () => {
    cut = { how: 'truncate', at: MiB, times: 1 };
    ignoreRange = true;
    const before = proxy.requests.length;
    await expectLayerInTar(await serialize());
    const gets = layerGets(proxy, before);
    expect(gets).toHaveLength(2);
    expect(rangeFrom(gets[1]!)).toBe(MiB);
  });
});

test('a body that always breaks at the same byte: bounded tries, then the run fails naming registry, repository, digest', async () => {
  cut = { how: 'truncate', at: MiB, times: Number.POSITIVE_INFINITY };
  const before = proxy.requests.length;
  const error = await serialize().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error?.message).toContain(`blob ${proxy.host}/resume@${layer.digest}`);
  expect(error?.message).toContain(`broke at byte ${MiB} of ${layer.size}`);
  expect(error?.message).toMatch(/, 3 tries in a row stopped there: GET .*: other side closed/);
  const gets = layerGets(proxy, before);
  expect(gets).toHaveLength(3); // attempts: 3, the first GET included
  expect(gets.slice(1).map(rangeFrom)).toEqual([MiB, MiB]);
  expect(await readdir(join(work, `run-${runs}`))).not.toContain('000001-resume.tar');

  // Told the tar it downloads for, the error names it too.
  const storages = new RegistryAndLayoutStorages({ insecureRegistries: [], retry: { attempts: 2, baseDelayMs: 5 } });
  try {
    const prefetcher = new Prefetcher(storages.open(parseReference(`${proxy.host}/resume:v1`)), [layer], {
      concurrency: 2,
      context: '000007-resume.tar',
    });
    const [blob] = prefetcher.blobs();
    await expect(read(await blob!.open())).rejects.toThrow(
      `blob ${proxy.host}/resume@${layer.digest} for 000007-resume.tar: download broke at byte ${MiB} of ${layer.size}`,
    );
    await prefetcher.close();
  } finally {
    await storages.close();
  }
});

test('a manifest whose body breaks is asked for again; one that always breaks fails, named, after bounded tries', async () => {
  cutPath = `/v2/resume/manifests/${manifest.digest}`;
  const gets = () => proxy.requests.filter((r) => r.method === 'GET' && r.url === cutPath).length;
  const client = new RegistryClient({ keychain: new StaticKeychain({}), retry: { attempts: 3, baseDelayMs: 5 } });
  try {
    const repo = client.repository({ registry: proxy.host, repository: 'resume' });
    cut = { how: 'truncate', at: 100, times: 1 };
    let before = gets();
    expect((await repo.fetchManifest(manifest)).byteLength).toBe(manifest.size);
    expect(gets() - before).toBe(2);

    cut = { how: 'truncate', at: 100, times: Number.POSITIVE_INFINITY };
    before = gets();
    await expect(repo.fetchManifest(manifest)).rejects.toThrow(
      `manifest ${proxy.host}/resume@${manifest.digest}: the body broke: other side closed (UND_ERR_SOCKET) (after 3 attempts)`,
    );
    expect(gets() - before).toBe(3);
  } finally {
    await client.close();
  }
});

test('a redirect to a blob store: the resume goes the same way, and the store never sees Authorization', async () => {
  const basic = 'Basic ' + Buffer.from('bob:pw').toString('base64');
  const store = await startLoopbackServer((req, res) => forwardCutting(registry.url, req, res));
  const front = await startLoopbackServer((req, res) => {
    if (req.headers.authorization !== basic) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="front"' }).end();
    if (req.url === `/v2/resume/blobs/${layer.digest}`) return void res.writeHead(307, { location: `${store.origin}${req.url}` }).end();
    return proxyTo(registry.url, req, res);
  });
  const client = new RegistryClient({
    keychain: new StaticKeychain({ [front.host]: { username: 'bob', password: 'pw' } }),
    retry: { baseDelayMs: 5 },
  });
  try {
    cut = { how: 'truncate', at: MiB + 7, times: 1 };
    const bytes = await read(await client.repository({ registry: front.host, repository: 'resume' }).fetchBlob(layer));
    expect(bytes.byteLength).toBe(layer.size);
    // The first GET goes before the scheme is known, without credentials: its 401 says Basic.
    expect(layerGets(front).map((r) => [r.headers.authorization, r.headers.range])).toEqual([
      [undefined, undefined],
      [basic, undefined],
      [basic, `bytes=${MiB + 7}-${layer.size - 1}`],
    ]);
    expect(layerGets(store).map((r) => [r.headers.authorization, r.headers.range])).toEqual([
      [undefined, undefined],
      [undefined, `bytes=${MiB + 7}-${layer.size - 1}`],
    ]);
  } finally {
    await client.close();
    await front.stop();
    await store.stop();
  }
});

test('a 206 whose Content-Range starts past the byte asked for is not trusted: a fresh GET instead', async () => {
  const content = Buffer.alloc(200_000, 1).fill(2, 100_000);
  const { sha256 } = await import('../../src/core/oci/digest.ts');
  const blob = { mediaType: 'application/octet-stream', digest: sha256(content), size: content.byteLength };
  const liar = await startLoopbackServer((req, res) => {
    const range = req.headers.range;
    if (range === undefined && liar.requests.length === 1) {
      res.writeHead(200, { 'content-length': String(content.byteLength) });
      return void res.write(content.subarray(0, 50_000), () => req.socket.end());
    }
    if (range !== undefined) {
      res.writeHead(206, { 'content-range': `bytes 60000-199999/200000`, 'content-length': '140000' });
      return void res.end(content.subarray(60_000));
    }
    res.writeHead(200, { 'content-length': String(content.byteLength) }).end(content);
  });
  const client = new RegistryClient({ keychain: new StaticKeychain({}), retry: { baseDelayMs: 5 } });
  try {
    const bytes = await read(await client.repository({ registry: liar.host, repository: 'r' }).fetchBlob(blob));
    expect(bytes.equals(content)).toBe(true); // toEqual compares 200 000 bytes one by one: seconds
    expect(liar.requests.map((r) => r.headers.range)).toEqual([undefined, 'bytes=50000-199999', undefined]);
  } finally {
    await client.close();
    await liar.stop();
  }
});

async function read(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
