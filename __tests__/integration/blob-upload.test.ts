/**
 * Blob uploads against the real registry, straight and through a loopback proxy that limits request bodies (as
 * nginx's client_max_body_size) or refuses PATCH: whole-blob PUTs, chunks, smaller chunks after a 413, whole blobs
 * where chunks are refused; from bytes, from a stream and from a byte-range reader (a blob inside a plain tar).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { sha256 } from '../../src/core/oci/digest.ts';
import type { Descriptor } from '../../src/core/oci/descriptor.ts';
import type { BlobContent } from '../../src/core/oci/storage.ts';
import { BodyRefusedError, CHUNK_BYTES, REFUSAL_KEPT_BYTES } from '../../src/core/registry/blob-upload.ts';
import { RegistryClient } from '../../src/core/registry/client.ts';
import type { RegistryRepository } from '../../src/core/registry/repository.ts';
import { StaticKeychain } from '../../src/core/registry/keychain.ts';
import { proxyTo, startLoopbackServer, type BodyCut, type LoopbackServer, type ProxyOptions } from '../support/redirect-server.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

const MiB = 1024 * 1024;
let registry: RunningRegistry;
let client: RegistryClient;
let proxy: LoopbackServer | undefined;

beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
});
afterEach(async () => {
  await client?.close();
  await proxy?.stop();
  proxy = undefined;
});

/**
 * A fresh client (body limits are learned per client) in front of the registry, through a proxy when given options;
 * `refuseReadBodies`: bodies over that many bytes are read whole and then refused (413), as a buffering proxy does.
 */
async function repositoryVia(
  options: (ProxyOptions & { refusePatch?: number; refuseReadBodies?: number; retry?: number }) | undefined,
  name: string,
) {
  client = new RegistryClient({ keychain: new StaticKeychain({}), retry: { attempts: options?.retry ?? 1, baseDelayMs: 5 } });
  if (options === undefined) return client.repository({ registry: registry.host, repository: name });
  const { refusePatch, refuseReadBodies, ...proxying } = options;
  proxy = await startLoopbackServer((req, res) => {
    if (req.method === 'PATCH' && refusePatch !== undefined) {
      req.resume();
      res.writeHead(refusePatch).end();
      return;
    }
    if (refuseReadBodies !== undefined && Number(req.headers['content-length']) > refuseReadBodies) {
      req.resume();
      req.once('end', () => res.writeHead(413).end());
      return;
    }
    return proxyTo(registry.url, req, res, proxying);
  });
  return client.repository({ registry: proxy.host, repository: name });
}

function blobOf(bytes: Uint8Array): Descriptor {
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(bytes), size: bytes.byteLength };
}

/** The blob as the registry serves it, hashed. */
async function storedDigest(repository: string, digest: string): Promise<string> {
  const response = await fetch(`${registry.url}/v2/${repository}/blobs/${digest}`);
  expect(response.status).toBe(200);
  return `sha256:${createHash('sha256')
    .update(Buffer.from(await response.arrayBuffer()))
    .digest('hex')}`;
}

/** The content in 64 KiB pieces, as a tar entry streams. */
function streamOf(bytes: Uint8Array): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < bytes.byteLength; at += 64 * 1024) yield Buffer.from(bytes.subarray(at, at + 64 * 1024));
    })(),
  );
}

const contents: Record<string, (bytes: Uint8Array) => BlobContent> = {
  bytes: (bytes) => bytes,
  stream: streamOf,
  'byte ranges': (bytes) => (start, end) => Readable.from([Buffer.from(bytes.subarray(start, end))]),
};

/** What the proxy saw of the upload: `PUT` (whole blob), `PATCH 0-…` (a chunk), `PUT ?digest= 0` (closing), `→ 413`. */
function uploadRequests(server: LoopbackServer): string[] {
  return server.requests
    .filter((request) => request.method === 'PATCH' || request.method === 'PUT')
    .map((request) =>
      `${request.method} ${request.headers['content-range'] ?? ''} ${request.headers['content-length']}`.replace('  ', ' '),
    );
}

/**
 * Pushes a blob of 3 MiB, then one of 2 MiB + 1, each checked as the registry stores it: what the proxy saw of the
 * first's upload (uploadRequests) and every request of the second's (`METHOD content-length`).
 */
async function pushTwo(repository: RegistryRepository, content: (bytes: Uint8Array) => BlobContent): Promise<[string[], string[]]> {
  const first = randomBytes(3 * MiB);
  expect(await repository.pushBlob(blobOf(first), content(first))).toBe('uploaded');
  expect(await storedDigest(repository.repository, blobOf(first).digest)).toBe(blobOf(first).digest);
  const firstSent = uploadRequests(proxy as LoopbackServer);
  const second = randomBytes(2 * MiB + 1);
  const before = (proxy as LoopbackServer).requests.length;
  expect(await repository.pushBlob(blobOf(second), content(second))).toBe('uploaded');
  expect(await storedDigest(repository.repository, blobOf(second).digest)).toBe(blobOf(second).digest);
  const sent = (proxy as LoopbackServer).requests.slice(before);
  return [firstSent, sent.map((request) => `${request.method} ${request.headers['content-length']}`)];
}

describe.each(Object.keys(contents))('from %s', (kind) => {
  const content = contents[kind] as (bytes: Uint8Array) => BlobContent;
  const name = kind.replace(' ', '-');

  test('behind a proxy that takes 1 MiB bodies: smaller chunks after each 413, and from the start for the next blob', async () => {
    const repository = await repositoryVia({ maxBodyBytes: MiB }, `limited/${name}`);
    const [first, second] = await pushTwo(repository, content);
    expect(first).toEqual([
      `PUT ${3 * MiB}`,
      `PATCH 0-${1.5 * MiB - 1} ${1.5 * MiB}`,
      ...[0, 1, 2, 3].map((i) => `PATCH ${i * 0.75 * MiB}-${(i + 1) * 0.75 * MiB - 1} ${0.75 * MiB}`),
      'PUT 0',
    ]);
    expect(second).toEqual(['POST 0', `PATCH ${0.75 * MiB}`, `PATCH ${0.75 * MiB}`, `PATCH ${0.5 * MiB + 1}`, 'PUT 0']);
  });
});

/** How a proxy that limits bodies without a 413 ends one, as a load balancer or an nginx closing early does. */
const cuts: Record<string, Pick<BodyCut, 'afterBytes' | 'how'>> = {
  'resets it before reading it': { afterBytes: 0, how: 'reset' },
  'resets it once 1 MiB of it went': { afterBytes: MiB, how: 'reset' },
  'closes the connection once 1 MiB of it went': { afterBytes: MiB, how: 'close' },
};

describe.each(Object.keys(cuts))('behind a proxy that, for a body over 2 MiB, %s', (cutName) => {
  test.each(Object.keys(contents))(
    'from %s: the blob goes again in chunks, once, and the next blob in chunks from the start',
    async (kind) => {
      const content = contents[kind] as (bytes: Uint8Array) => BlobContent;
      const cut = { ...(cuts[cutName] as BodyCut), overBytes: 2 * MiB };
      const repository = await repositoryVia({ cutBodies: cut, retry: 3 }, `cut/${kind.replace(' ', '-')}/${cut.how}-${cut.afterBytes}`);
      const [first, second] = await pushTwo(repository, content);
      expect(first).toEqual([
        `PUT ${3 * MiB}`,
        `PATCH 0-${1.5 * MiB - 1} ${1.5 * MiB}`,
        `PATCH ${1.5 * MiB}-${3 * MiB - 1} ${1.5 * MiB}`,
        'PUT 0',
      ]);
      expect(second).toEqual(['POST 0', `PATCH ${1.5 * MiB}`, `PATCH ${0.5 * MiB + 1}`, 'PUT 0']);
    },
  );
});

// The registry keeps what reached it of the chunk, and its session then refuses the same chunk again (416).
test.each(Object.keys(contents))(
  'from %s: a chunk the proxy resets is halved, and the blob starts over in a fresh session',
  async (kind) => {
    const content = contents[kind] as (bytes: Uint8Array) => BlobContent;
    const repository = await repositoryVia(
      { cutBodies: { overBytes: 2 * MiB, afterBytes: MiB / 2, how: 'reset', patches: 1 }, retry: 3 },
      `cut-chunk/${kind.replace(' ', '-')}`,
    );
    const bytes = randomBytes(3 * MiB);
    expect(await repository.pushBlob(blobOf(bytes), content(bytes))).toBe('uploaded');
    expect(await storedDigest(repository.repository, blobOf(bytes).digest)).toBe(blobOf(bytes).digest);
    expect(uploadRequests(proxy as LoopbackServer)).toEqual([
      `PUT ${3 * MiB}`,
      `PATCH 0-${1.5 * MiB - 1} ${1.5 * MiB}`,
      ...[0, 1, 2, 3].map((i) => `PATCH ${i * 0.75 * MiB}-${(i + 1) * 0.75 * MiB - 1} ${0.75 * MiB}`),
      'PUT 0',
    ]);
    const posts = (proxy as LoopbackServer).requests.filter((request) => request.method === 'POST');
    expect(posts).toHaveLength(3); // the first session, the one for chunks, the one started over
  },
);

test('a stream whose later chunk the proxy resets is spent: a BodyRefusedError, and the next goes in smaller chunks', async () => {
  let cut = false;
  proxy = await startLoopbackServer((req, res) => {
    const later = req.method === 'PATCH' && !String(req.headers['content-range']).startsWith('0-');
    const cutBodies: BodyCut | undefined = later && !cut ? { overBytes: 0, afterBytes: MiB / 2, how: 'reset' } : undefined;
    cut ||= later;
    return proxyTo(registry.url, req, res, { maxBodyBytes: 2 * MiB, ...(cutBodies ? { cutBodies } : {}) });
  });
  client = new RegistryClient({ keychain: new StaticKeychain({}), retry: { attempts: 3, baseDelayMs: 5 } });
  const repository = client.repository({ registry: proxy.host, repository: 'cut-later' });
  const bytes = randomBytes(3 * MiB);
  const failure = repository.pushBlob(blobOf(bytes), streamOf(bytes));
  await expect(failure).rejects.toBeInstanceOf(BodyRefusedError);
  await expect(failure).rejects.toThrow(/: the connection broke \(ECONNRESET\) in a chunk from byte 1572864: send it again$/);
  const before = proxy.requests.length;
  expect(await repository.pushBlob(blobOf(bytes), streamOf(bytes))).toBe('uploaded');
  expect(await storedDigest('cut-later', blobOf(bytes).digest)).toBe(blobOf(bytes).digest);
  expect(proxy.requests.slice(before).map((request) => `${request.method} ${request.headers['content-length']}`)).toEqual([
    'POST 0',
    ...[0, 1, 2, 3].map(() => `PATCH ${0.75 * MiB}`),
    'PUT 0',
  ]);
});

test.each(Object.keys(contents))('from %s: a proxy that resets chunks too fails the upload, naming the blob and the host', async (kind) => {
  const content = contents[kind] as (bytes: Uint8Array) => BlobContent;
  // Every chunk cut before its end, the smallest too.
  const cutBodies: BodyCut = { overBytes: 2 * MiB, afterBytes: 32 * 1024, how: 'reset', patches: Number.POSITIVE_INFINITY };
  const repository = await repositoryVia({ cutBodies, retry: 2 }, 'cut-all');
  const bytes = randomBytes(3 * MiB);
  const digest = blobOf(bytes).digest;
  const failure = repository.pushBlob(blobOf(bytes), content(bytes));
  await expect(failure).rejects.toThrow(
    new RegExp(
      `^upload of ${(proxy as LoopbackServer).host}/cut-all@${digest}: the connection broke \\(ECONNRESET\\) under chunks down to 65536 ` +
        `bytes: PATCH http://${(proxy as LoopbackServer).host}/v2/cut-all/blobs/uploads/[^?]+\\?…: `,
    ),
  );
  expect((await fetch(`${registry.url}/v2/cut-all/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
});

test('content that can be read again goes whole, however big', async () => {
  const bytes = randomBytes(CHUNK_BYTES + 12345);
  const repository = await repositoryVia({}, 'whole');
  expect(await repository.pushBlob(blobOf(bytes), contents['byte ranges']?.(bytes) as BlobContent)).toBe('uploaded');
  expect(await storedDigest(repository.repository, blobOf(bytes).digest)).toBe(blobOf(bytes).digest);
  expect(uploadRequests(proxy as LoopbackServer)).toEqual([`PUT ${bytes.byteLength}`]);
});

test('a stream over the chunk size goes whole, in one PUT', async () => {
  const bytes = randomBytes(CHUNK_BYTES * 2 + 12345);
  const repository = await repositoryVia({}, 'whole-stream');
  expect(await repository.pushBlob(blobOf(bytes), streamOf(bytes))).toBe('uploaded');
  expect(await storedDigest(repository.repository, blobOf(bytes).digest)).toBe(blobOf(bytes).digest);
  expect(uploadRequests(proxy as LoopbackServer)).toEqual([`PUT ${bytes.byteLength}`]);
});

/** A proxy that refuses a big stream before more of it went than the stream keeps. */
const earlyRefusals: Record<string, Parameters<typeof repositoryVia>[0]> = {
  'refused at once as too big': { maxBodyBytes: CHUNK_BYTES },
  'cut before it was read': { cutBodies: { overBytes: CHUNK_BYTES, afterBytes: 0, how: 'reset' } },
};

test.each(Object.keys(earlyRefusals))(
  'a big stream %s goes in chunks from its start, each to the Location the last answer gave',
  async (how) => {
    const bytes = randomBytes(CHUNK_BYTES * 2 + 12345);
    const repository = await repositoryVia(earlyRefusals[how], 'chunks');
    expect(await repository.pushBlob(blobOf(bytes), streamOf(bytes))).toBe('uploaded');
    expect(await storedDigest(repository.repository, blobOf(bytes).digest)).toBe(blobOf(bytes).digest);
    expect(uploadRequests(proxy as LoopbackServer)).toEqual([
      `PUT ${bytes.byteLength}`,
      `PATCH 0-${CHUNK_BYTES - 1} ${CHUNK_BYTES}`,
      `PATCH ${CHUNK_BYTES}-${2 * CHUNK_BYTES - 1} ${CHUNK_BYTES}`,
      `PATCH ${2 * CHUNK_BYTES}-${bytes.byteLength - 1} 12345`,
      'PUT 0',
    ]);
    const sends = (proxy as LoopbackServer).requests.filter((request) => request.method === 'PATCH' || request.method === 'PUT');
    const locations = sends.map((request) => request.url);
    expect(new Set(locations).size).toBe(locations.length); // each request went where the answer before it said
  },
);

/** A proxy that refuses a big stream once it read more of it than the stream keeps, and what the refusal says. */
const lateRefusals: Record<string, { proxy: Parameters<typeof repositoryVia>[0]; says: RegExp }> = {
  'refused as too big once read': { proxy: { refuseReadBodies: CHUNK_BYTES }, says: /: refused as too big \(413\) after more than/ },
  'cut once more than it keeps went': {
    proxy: { cutBodies: { overBytes: CHUNK_BYTES, afterBytes: REFUSAL_KEPT_BYTES + 4 * MiB, how: 'reset' } },
    says: /: the connection broke \(ECONNRESET\) after more than/,
  },
};

test.each(Object.keys(lateRefusals))('a big stream %s is spent: a BodyRefusedError, and the next stream goes in chunks', async (how) => {
  const refusal = lateRefusals[how] as (typeof lateRefusals)[string];
  const bytes = randomBytes(Math.max(CHUNK_BYTES, REFUSAL_KEPT_BYTES) * 2);
  const repository = await repositoryVia(refusal.proxy, 'refused-late');
  const failure = repository.pushBlob(blobOf(bytes), streamOf(bytes));
  await expect(failure).rejects.toBeInstanceOf(BodyRefusedError);
  await expect(failure).rejects.toThrow(refusal.says);
  expect(uploadRequests(proxy as LoopbackServer)).toEqual([`PUT ${bytes.byteLength}`]);
  const before = (proxy as LoopbackServer).requests.length;
  expect(await repository.pushBlob(blobOf(bytes), streamOf(bytes))).toBe('uploaded');
  expect(await storedDigest(repository.repository, blobOf(bytes).digest)).toBe(blobOf(bytes).digest);
  const sent = (proxy as LoopbackServer).requests.slice(before);
  expect(sent.map((request) => `${request.method} ${request.headers['content-length']}`)).toEqual([
    'POST 0',
    `PATCH ${CHUNK_BYTES}`,
    `PATCH ${CHUNK_BYTES}`,
    'PUT 0',
  ]);
});

test('a registry that refuses PATCH gets a big stream it refused as too big in one PUT', async () => {
  const bytes = randomBytes(CHUNK_BYTES + 1000);
  const repository = await repositoryVia({ refusePatch: 405 }, 'refused');
  expect(await repository.pushBlob(blobOf(bytes), streamOf(bytes))).toBe('uploaded');
  expect(await storedDigest(repository.repository, blobOf(bytes).digest)).toBe(blobOf(bytes).digest);
  const methods = (proxy as LoopbackServer).requests.map((request) => request.method).filter((method) => method !== 'GET');
  expect(methods).toEqual(['POST', 'PUT']);
});

test('a blob at most the chunk size goes in one PUT', async () => {
  const bytes = randomBytes(2 * MiB);
  const repository = await repositoryVia({}, 'small');
  expect(await repository.pushBlob(blobOf(bytes), streamOf(bytes))).toBe('uploaded');
  expect(uploadRequests(proxy as LoopbackServer)).toEqual([`PUT ${2 * MiB}`]);
});

test('content that ends before the blob does fails, naming the upload', async () => {
  const bytes = randomBytes(CHUNK_BYTES + 10);
  const repository = await repositoryVia(undefined, 'short');
  const short = Readable.from([Buffer.from(bytes.subarray(0, CHUNK_BYTES + 5))]);
  await expect(repository.pushBlob(blobOf(bytes), short)).rejects.toThrow(
    new RegExp(`upload of ${registry.host}/short@${blobOf(bytes).digest}: the content ended after ${CHUNK_BYTES + 5} of`),
  );
});
