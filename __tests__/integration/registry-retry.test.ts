import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { sha256 } from '../../src/core/oci/digest.ts';
import { MediaType } from '../../src/core/oci/descriptor.ts';
import { RegistryClient } from '../../src/core/registry/client.ts';
import { StaticKeychain } from '../../src/core/registry/keychain.ts';
import { retryAfterMs, type RetryEvent, type RetryOptions } from '../../src/core/registry/retry.ts';
import { proxyTo, startLoopbackServer, type LoopbackServer } from '../support/redirect-server.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

const content = randomBytes(50_000);
const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(content), size: content.byteLength };
const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: layer, layers: [layer] }));
const manifest = { mediaType: MediaType.ociManifest, digest: sha256(manifestBytes), size: manifestBytes.byteLength };
const blobPath = `/v2/flaky/blobs/${layer.digest}`;

interface Fault {
  /** `GET /v2/...`: method and path, the path matched as a prefix when it ends in `/`. */
  on: string;
  answer: { status: number; headers?: Record<string, string> } | 'reset';
  times: number;
}

let registry: RunningRegistry;
let proxy: LoopbackServer;
/** Used up one per matching request. */
let faults: Fault[] = [];
const clients: RegistryClient[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  const seed = new RegistryClient({ keychain: new StaticKeychain({}) });
  const repo = seed.repository({ registry: registry.host, repository: 'flaky' });
  await repo.pushBlob(layer, content);
  await repo.pushManifest('v1', MediaType.ociManifest, manifestBytes);
  await seed.close();
  proxy = await startLoopbackServer(async (req, res) => {
    const asked = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    const fault = faults.find((f) => f.times > 0 && (f.on.endsWith('/') ? asked.startsWith(f.on) : asked === f.on));
    if (fault !== undefined) {
      fault.times--;
      if (fault.answer === 'reset') return void req.socket.destroy();
      return void res.writeHead(fault.answer.status, fault.answer.headers).end();
    }
    await proxyTo(registry.url, req, res);
  });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await proxy?.stop();
  await registry?.stop();
});
beforeEach(() => (faults = []));

function flaky(retry: RetryOptions = {}): { repo: ReturnType<RegistryClient['repository']>; events: RetryEvent[] } {
  const events: RetryEvent[] = [];
  const client = new RegistryClient({
    keychain: new StaticKeychain({}),
    retry: { baseDelayMs: 5, ...retry, onRetry: (e) => events.push(e) },
  });
  clients.push(client);
  return { repo: client.repository({ registry: proxy.host, repository: 'flaky' }), events };
}

function attempts(path: string, method = 'GET'): number {
  return proxy.requests.filter((r) => r.method === method && r.url.split('?')[0] === path).length;
}

async function read(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('retries', () => {
  test('503 with Retry-After: 1 is waited out as asked, then succeeds', async () => {
    const path = '/v2/flaky/manifests/v1';
    faults.push({ on: `HEAD ${path}`, answer: { status: 503, headers: { 'retry-after': '1' } }, times: 1 });
    const before = attempts(path, 'HEAD');
    const { repo, events } = flaky();
    expect(await repo.resolve('v1')).toEqual(manifest);
    expect(attempts(path, 'HEAD') - before).toBe(2);
    expect(events.map((e) => [e.attempt, e.delayMs, e.reason])).toEqual([[1, 1000, '503 Service Unavailable']]);
    expect(events[0]!.what).toBe(`HEAD ${proxy.origin}${path}`);
  });

  test('429 without Retry-After backs off and succeeds; a huge Retry-After is capped', async () => {
    faults.push({ on: `GET ${blobPath}`, answer: { status: 429 }, times: 2 });
    const before = attempts(blobPath);
    const { repo, events } = flaky({ baseDelayMs: 5 });
    expect(await read(await repo.fetchBlob(layer))).toEqual(content);
    expect(attempts(blobPath) - before).toBe(3);
    expect(events.map((e) => e.attempt)).toEqual([1, 2]);
    expect(events.every((e) => e.delayMs <= 10)).toBe(true);

    faults.push({ on: `GET ${blobPath}`, answer: { status: 429, headers: { 'retry-after': '3600' } }, times: 1 });
    const capped = flaky({ maxDelayMs: 20 });
    expect(await read(await capped.repo.fetchBlob(layer))).toEqual(content);
    expect(capped.events.map((e) => e.delayMs)).toEqual([20]);
  });

  test('a connection reset mid-run is retried', async () => {
    const { repo, events } = flaky();
    expect(await repo.resolve('v1')).toEqual(manifest);
    faults.push({ on: `GET ${blobPath}`, answer: 'reset', times: 1 });
    const before = attempts(blobPath);
    expect(await read(await repo.fetchBlob(layer))).toEqual(content);
    expect(attempts(blobPath) - before).toBe(2);
    expect(events).toHaveLength(1);
    expect(events[0]!.reason).toMatch(/other side closed|ECONNRESET|socket/i);
  });

  test('retries are bounded, 501 is not retried, and a streamed upload is retried from the chunk it holds', async () => {
    faults.push({ on: `GET ${blobPath}`, answer: { status: 502 }, times: 10 });
    let before = attempts(blobPath);
    const { repo } = flaky({ attempts: 3 });
    await expect(repo.fetchBlob(layer)).rejects.toThrow(`GET ${proxy.origin}${blobPath}: 502 Bad Gateway`);
    expect(attempts(blobPath) - before).toBe(3);

    faults = [{ on: `GET ${blobPath}`, answer: { status: 501 }, times: 10 }];
    before = attempts(blobPath);
    await expect(repo.fetchBlob(layer)).rejects.toThrow(`GET ${proxy.origin}${blobPath}: 501 Not Implemented`);
    expect(attempts(blobPath) - before).toBe(1);

    const upload = randomBytes(1000);
    const descriptor = { mediaType: 'application/octet-stream', digest: sha256(upload), size: upload.byteLength };
    const uploads = () => proxy.requests.filter((r) => r.method === 'PUT' && r.url.startsWith('/v2/flaky/blobs/uploads/')).length;
    const putsBefore = uploads();
    faults = [{ on: 'PUT /v2/flaky/blobs/uploads/', answer: { status: 503 }, times: 10 }];
    await expect(repo.pushBlob(descriptor, Readable.from([upload]))).rejects.toThrow(
      /PUT .*\/v2\/flaky\/blobs\/uploads\/[^?]+\?…: 503 Service Unavailable/,
    );
    // A stream goes in chunks held in memory (blob-upload.ts), so a refused one can be sent again, as often as allowed.
    expect(uploads() - putsBefore).toBe(3);
  });
});

test('a registry that refuses connections is tried a bounded number of times', async () => {
  const events: RetryEvent[] = [];
  const closed = await startLoopbackServer(() => undefined);
  await closed.stop();
  const client = new RegistryClient({
    keychain: new StaticKeychain({}),
    retry: { attempts: 3, baseDelayMs: 1, onRetry: (e) => events.push(e) },
  });
  clients.push(client);
  await expect(client.repository({ registry: closed.host, repository: 'gone' }).resolve('v1')).rejects.toThrow(
    `HEAD ${closed.origin}/v2/gone/manifests/v1: connect ECONNREFUSED ${closed.host} (after 3 attempts)`,
  );
  expect(events.map((e) => e.attempt)).toEqual([1, 2]);
});

test('Retry-After as an HTTP date', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  expect(retryAfterMs('Mon, 01 Jan 2024 00:00:02 GMT', now)).toBe(2000);
  expect(retryAfterMs('Sun, 31 Dec 2023 23:59:00 GMT', now)).toBe(0);
  expect(retryAfterMs('7', now)).toBe(7000);
  expect(retryAfterMs('soon', now)).toBeUndefined();
});
