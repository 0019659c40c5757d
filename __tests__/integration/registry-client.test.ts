import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sha256 } from '../../src/core/oci/digest.ts';
import { MAX_MANIFEST_BYTES, MediaType, type Descriptor } from '../../src/core/oci/descriptor.ts';
import { RegistryClient } from '../../src/core/registry/client.ts';
import { StaticKeychain } from '../../src/core/registry/keychain.ts';
import type { RegistryRepository } from '../../src/core/registry/repository.ts';
import { proxyTo, startLoopbackServer, type LoopbackServer } from '../support/redirect-server.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

let registry: RunningRegistry;
let client: RegistryClient;
beforeAll(async () => {
  registry = await startRegistry();
  client = new RegistryClient({ keychain: new StaticKeychain({}) });
});
afterAll(async () => {
  await client?.close();
  await registry?.stop();
});

function blob(bytes: Uint8Array, mediaType = 'application/octet-stream'): { descriptor: Descriptor; bytes: Uint8Array } {
  return { descriptor: { mediaType, digest: sha256(bytes), size: bytes.byteLength }, bytes };
}

function json(value: unknown, mediaType: string): { descriptor: Descriptor; bytes: Uint8Array } {
  return blob(Buffer.from(JSON.stringify(value)), mediaType);
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** An image of one config and one layer pushed through the client, with a manifest of the given flavour. */
async function pushImage(repo: RegistryRepository, tag: string, flavour: 'oci' | 'docker') {
  const config = json(
    { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') },
    flavour === 'oci' ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json',
  );
  const layer = blob(
    randomBytes(300_000),
    flavour === 'oci' ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  );
  expect(await repo.pushBlob(config.descriptor, config.bytes)).toBe('uploaded');
  expect(await repo.pushBlob(layer.descriptor, Readable.from([layer.bytes]))).toBe('uploaded');
  const mediaType = flavour === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest;
  const manifest = json({ schemaVersion: 2, mediaType, config: config.descriptor, layers: [layer.descriptor] }, mediaType);
  const pushed = await repo.pushManifest(tag, mediaType, manifest.bytes);
  expect(pushed).toEqual(manifest.descriptor);
  return { config, layer, manifest };
}

describe('against an anonymous registry', () => {
  test('OCI image: push, resolve by tag and digest, fetch and verify', async () => {
    const repo = client.repository({ registry: registry.host, repository: 'client/oci' });
    expect(repo.location).toBe(`${registry.host}/client/oci`);
    const { config, layer, manifest } = await pushImage(repo, 'v1', 'oci');

    expect(await repo.resolve('v1')).toEqual(manifest.descriptor);
    expect(await repo.resolve(manifest.descriptor.digest)).toEqual(manifest.descriptor);
    expect(Buffer.from(await repo.fetchManifest(manifest.descriptor))).toEqual(Buffer.from(manifest.bytes));
    expect(await collect(await repo.fetchBlob(layer.descriptor))).toEqual(Buffer.from(layer.bytes));
    expect(await text(await repo.fetchBlob(config.descriptor))).toBe(Buffer.from(config.bytes).toString());

    expect(await repo.exists(layer.descriptor)).toBe(true);
    expect(await repo.exists(manifest.descriptor)).toBe(true);
    expect(await repo.blobExists(sha256('never pushed'))).toBe(false);
    expect(await repo.exists({ ...manifest.descriptor, digest: sha256('no such manifest') })).toBe(false);
  });

  test('Docker image and an index over both: media types come back as stored', async () => {
    const repo = client.repository({ registry: registry.host, repository: 'client/multi' });
    const docker = await pushImage(repo, 'docker', 'docker');
    const oci = await pushImage(repo, 'oci', 'oci');
    expect(await repo.resolve('docker')).toEqual(docker.manifest.descriptor);

    const platform = { architecture: 'amd64', os: 'linux' };
    const list = json(
      { schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: [{ ...docker.manifest.descriptor, platform }] },
      MediaType.dockerManifestList,
    );
    await repo.pushManifest('list', MediaType.dockerManifestList, list.bytes);
    expect(await repo.resolve('list')).toEqual(list.descriptor);

    const index = json(
      { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...oci.manifest.descriptor, platform }, list.descriptor] },
      MediaType.ociIndex,
    );
    const pushed = await repo.pushManifest(index.descriptor.digest, MediaType.ociIndex, index.bytes);
    expect(pushed).toEqual(index.descriptor);
    const resolved = await repo.resolve(index.descriptor.digest);
    expect(resolved).toEqual(index.descriptor);
    expect(JSON.parse(Buffer.from(await repo.fetchManifest(resolved)).toString()).manifests).toHaveLength(2);
  });

  test('a missing tag names the request and the registry error code', async () => {
    const repo = client.repository({ registry: registry.host, repository: 'client/oci' });
    await expect(repo.resolve('missing')).rejects.toThrow(
      `GET http://${registry.host}/v2/client/oci/manifests/missing: 404 MANIFEST_UNKNOWN manifest unknown`,
    );
    const absent = blob(Buffer.from('absent'));
    await expect(repo.fetchBlob(absent.descriptor)).rejects.toThrow(
      `GET http://${registry.host}/v2/client/oci/blobs/${absent.descriptor.digest}: 404 BLOB_UNKNOWN`,
    );
  });

  test('a part of a blob is a bounded Range answered with exactly those bytes; the last part too', async () => {
    const repo = client.repository({ registry: registry.host, repository: 'client/parts' });
    const layer = blob(randomBytes(300_000));
    await repo.pushBlob(layer.descriptor, layer.bytes);
    const middle = await repo.fetchBlobPart(layer.descriptor, 1000, 4999);
    expect(middle.whole).toBe(false);
    expect((await collect(middle.body)).equals(Buffer.from(layer.bytes).subarray(1000, 5000))).toBe(true);
    const last = await repo.fetchBlobPart(layer.descriptor, 299_000, 299_999);
    expect(last.whole).toBe(false);
    expect((await collect(last.body)).equals(Buffer.from(layer.bytes).subarray(299_000))).toBe(true);
  });

  test('one connection carries a sequence of requests, HEADs included: none pays for a new one', async () => {
    const sockets = new Set<Socket>();
    const front = await startLoopbackServer((req, res) => {
      sockets.add(req.socket);
      return proxyTo(registry.url, req, res);
    });
    const own = new RegistryClient({ keychain: new StaticKeychain({}) });
    try {
      const pushed = await pushImage(client.repository({ registry: registry.host, repository: 'client/reuse' }), 'v1', 'oci');
      const repo = own.repository({ registry: front.host, repository: 'client/reuse' });
      // What a resolve and the far side's probes send one after the other.
      expect(await repo.resolve('v1')).toEqual(pushed.manifest.descriptor);
      expect(await repo.fetchManifest(pushed.manifest.descriptor)).toEqual(pushed.manifest.bytes);
      for (const { descriptor } of [pushed.config, pushed.layer]) expect(await repo.exists(descriptor)).toBe(true);
      expect(await repo.exists(pushed.manifest.descriptor)).toBe(true);
      expect(front.requests.filter((r) => r.method === 'HEAD').length).toBeGreaterThanOrEqual(4);
      expect(sockets.size).toBe(1);
    } finally {
      await own.close();
      await front.stop();
    }
  });

  test('a first resolve is one request, its manifest HEAD: no GET /v2/ before it (a round trip saved)', async () => {
    const front = await startLoopbackServer((req, res) => proxyTo(registry.url, req, res));
    const own = new RegistryClient({ keychain: new StaticKeychain({}) });
    try {
      const pushed = await pushImage(client.repository({ registry: registry.host, repository: 'client/first' }), 'v1', 'oci');
      expect(await own.repository({ registry: front.host, repository: 'client/first' }).resolve('v1')).toEqual(pushed.manifest.descriptor);
      expect(front.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['HEAD /v2/client/first/manifests/v1']);
    } finally {
      await own.close();
      await front.stop();
    }
  });

  test('a web server that is no registry: its first refusal asks whether it is one', async () => {
    const web = await startLoopbackServer(
      (_req, res) => void res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'),
    );
    const own = new RegistryClient({ keychain: new StaticKeychain({}) });
    try {
      await expect(own.repository({ registry: web.host, repository: 'tools' }).resolve('v1')).rejects.toThrow(
        `GET ${web.origin}/v2/tools/manifests/v1: 404 <h1>Not Found</h1> (is ${web.host} an OCI registry?)`,
      );
    } finally {
      await own.close();
      await web.stop();
    }
  });

  test('cross-repository mount', async () => {
    const from = client.repository({ registry: registry.host, repository: 'client/mount-from' });
    const to = client.repository({ registry: registry.host, repository: 'client/mount-to' });
    const layer = blob(randomBytes(1000));
    await from.pushBlob(layer.descriptor, layer.bytes);
    expect(await to.blobExists(layer.descriptor.digest)).toBe(false);
    expect(await to.pushBlob(layer.descriptor, layer.bytes, { mountFrom: 'client/mount-from' })).toBe('mounted');
    expect(await to.blobExists(layer.descriptor.digest)).toBe(true);
    // A source without the blob: the registry declines the mount and the upload goes ahead.
    const other = blob(randomBytes(1000));
    expect(await to.pushBlob(other.descriptor, other.bytes, { mountFrom: 'client/nowhere' })).toBe('uploaded');
    expect(await collect(await to.fetchBlob(other.descriptor))).toEqual(Buffer.from(other.bytes));
  });

  test('the registry itself refuses a manifest over 4 MiB, and says so', async () => {
    const repo = client.repository({ registry: registry.host, repository: 'client/huge' });
    const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, annotations: { padding: 'x'.repeat(MAX_MANIFEST_BYTES) } }));
    await expect(repo.pushManifest('huge', MediaType.ociManifest, huge)).rejects.toThrow(
      `PUT http://${registry.host}/v2/client/huge/manifests/huge: 400 MANIFEST_INVALID manifest invalid`,
    );
  });

  test('content that does not match its descriptor fails, with no partial success', async () => {
    const repo = client.repository({ registry: registry.host, repository: 'client/oci' });
    const { layer, manifest } = await pushImage(repo, 'mismatch', 'oci');
    const wrongSize = { ...layer.descriptor, size: layer.descriptor.size - 1 };
    await expect(repo.fetchBlob(wrongSize)).rejects.toThrow(/does not match its descriptor/);
    await expect(repo.fetchManifest({ ...manifest.descriptor, size: manifest.descriptor.size + 1 })).rejects.toThrow(
      /does not match its descriptor/,
    );
    await expect(repo.resolve(sha256('other'))).rejects.toThrow(/404 MANIFEST_UNKNOWN/);
    // Connections stay usable after the refusals.
    expect(await repo.resolve('mismatch')).toEqual(manifest.descriptor);
  });
});

describe('against a registry that misbehaves', () => {
  const huge = json(
    { schemaVersion: 2, mediaType: MediaType.ociManifest, annotations: { padding: 'x'.repeat(MAX_MANIFEST_BYTES) } },
    MediaType.ociManifest,
  );
  const small = json({ schemaVersion: 2, mediaType: MediaType.ociManifest, layers: [] }, MediaType.ociManifest);
  const layer = blob(randomBytes(200_000));
  const forged = Buffer.from(layer.bytes).fill(0, 1000, 2000);
  const openEnded = blob(randomBytes(200_000));
  let server: LoopbackServer;
  beforeAll(async () => {
    server = await startLoopbackServer((req, res) => {
      const path = req.url ?? '';
      const send = (status: number, headers: Record<string, string>, body: Uint8Array) => {
        res.writeHead(status, headers);
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      const manifestHeaders = (m: typeof huge, extra: Record<string, string> = {}) => ({
        'content-type': m.descriptor.mediaType,
        'docker-content-digest': m.descriptor.digest,
        'content-length': String(m.descriptor.size),
        ...extra,
      });
      // A huge manifest, announced honestly.
      if (path === '/v2/lying/manifests/huge') return send(200, manifestHeaders(huge), huge.bytes);
      // A huge manifest without a usable HEAD answer and with a chunked body: only the read can stop it.
      if (path === '/v2/lying/manifests/huge-chunked' || path === `/v2/lying/manifests/${small.descriptor.digest}`) {
        if (req.method === 'HEAD') return send(200, { 'content-type': MediaType.ociManifest }, Buffer.alloc(0));
        res.writeHead(200, { 'content-type': MediaType.ociManifest });
        res.write(huge.bytes.subarray(0, 1_000_000));
        res.end(huge.bytes.subarray(1_000_000));
        return;
      }
      // A tag whose HEAD names one digest while the content is another.
      if (path === `/v2/lying/manifests/${huge.descriptor.digest}`) return send(200, manifestHeaders(small), small.bytes);
      // A blob served with the right length but forged bytes.
      if (path === `/v2/lying/blobs/${layer.descriptor.digest}`) return send(200, { 'content-length': String(forged.byteLength) }, forged);
      // A blob store that answers any range with the rest of the blob from its start (as if asked `bytes=N-`).
      if (path === `/v2/lying/blobs/${openEnded.descriptor.digest}`) {
        const { size } = openEnded.descriptor;
        const start = Number(/^bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
        if (req.headers.range === undefined) return send(200, { 'content-length': String(size) }, openEnded.bytes);
        const headers = { 'content-range': `bytes ${start}-${size - 1}/${size}`, 'content-length': String(size - start) };
        return send(206, headers, openEnded.bytes.subarray(start));
      }
      send(404, { 'content-type': 'application/json' }, Buffer.from('{"errors":[{"code":"NAME_UNKNOWN","message":"not here"}]}'));
    });
  });
  afterAll(() => server?.stop());

  test('a manifest over 4 MiB is refused before it is requested, and while it is read', async () => {
    const repo = client.repository({ registry: server.host, repository: 'lying' });
    const resolved = await repo.resolve('huge');
    expect(resolved).toEqual(huge.descriptor);
    const before = server.requests.length;
    await expect(repo.fetchManifest(resolved)).rejects.toThrow(
      `manifest ${server.host}/lying@${huge.descriptor.digest} is ${huge.descriptor.size} bytes, over the 4194304-byte limit`,
    );
    expect(server.requests.length).toBe(before);
    // No HEAD digest: the GET fallback stops reading at the cap.
    await expect(repo.resolve('huge-chunked')).rejects.toThrow(`manifest ${server.host}/lying:huge-chunked is over the 4194304-byte limit`);
    // A descriptor that names a small manifest: reading stops past its size.
    await expect(repo.fetchManifest(small.descriptor)).rejects.toThrow(/does not match its descriptor .*unknown \(too long\)/);
  });

  test('content that differs from the digest asked for is an error, never a success', async () => {
    const repo = client.repository({ registry: server.host, repository: 'lying' });
    await expect(repo.resolve(huge.descriptor.digest)).rejects.toThrow(
      `manifest ${server.host}/lying@${huge.descriptor.digest}: content is ${small.descriptor.digest}`,
    );
    await expect(repo.fetchManifest({ ...huge.descriptor, size: small.descriptor.size })).rejects.toThrow(/does not match its descriptor/);

    const stream = await repo.fetchBlob(layer.descriptor);
    let received = 0;
    const failure = await (async () => {
      for await (const chunk of stream) received += (chunk as Buffer).byteLength;
    })().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(String(failure)).toMatch(`blob ${server.host}/lying@${layer.descriptor.digest}: content does not match its descriptor`);
    expect(received).toBeLessThanOrEqual(layer.descriptor.size);
  });

  test('a part answered with more than was asked is not trusted: the blob comes whole, from a plain GET', async () => {
    const repo = client.repository({ registry: server.host, repository: 'lying' });
    const before = server.requests.length;
    const part = await repo.fetchBlobPart(openEnded.descriptor, 1000, 4999);
    expect(part.whole).toBe(true);
    expect((await collect(part.body)).equals(Buffer.from(openEnded.bytes))).toBe(true);
    expect(server.requests.slice(before).map((r) => r.headers.range)).toEqual(['bytes=1000-4999', undefined]);
  });

  test('an unknown repository names the request and the code', async () => {
    const repo = client.repository({ registry: server.host, repository: 'elsewhere' });
    await expect(repo.resolve('v1')).rejects.toThrow(`GET http://${server.host}/v2/elsewhere/manifests/v1: 404 NAME_UNKNOWN not here`);
  });
});
