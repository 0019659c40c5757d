/**
 * Registries that accept connections and then say nothing: each wait has a bound (connect, response headers, body
 * idle), and the error names the host and what timed out. Loopback listeners only; timeouts of 0.3 s, which undici's
 * coarse timers (checked about twice a second) let run for up to a second each.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { afterEach, expect, test } from 'vitest';
import { sha256 } from '../../src/core/oci/digest.ts';
import { parseReference } from '../../src/core/oci/reference.ts';
import { RegistryClient } from '../../src/core/registry/client.ts';
import { StaticKeychain } from '../../src/core/registry/keychain.ts';
import { RegistryAndLayoutStorages } from '../../src/core/serialize/storages.ts';
import { startLoopbackServer, type LoopbackServer } from '../support/redirect-server.ts';
import { CLI } from './support/cli.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A listener that accepts every connection and never writes a byte. */
async function silentListener(): Promise<{ host: string; connections: () => number }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

async function loopback(handler: Parameters<typeof startLoopbackServer>[0]): Promise<LoopbackServer> {
  const server = await startLoopbackServer(handler);
  cleanups.push(() => server.stop());
  return server;
}

function client(options: Partial<ConstructorParameters<typeof RegistryClient>[0]>): RegistryClient {
  const made = new RegistryClient({ keychain: new StaticKeychain({}), retry: { attempts: 2, baseDelayMs: 5 }, ...options });
  cleanups.push(() => made.close());
  return made;
}

async function failure(promise: Promise<unknown>): Promise<{ message: string; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => new Error('no error'),
    (e: unknown) => e as Error,
  );
  return { message: error.message, ms: Date.now() - started };
}

test('a registry that accepts and never answers: response headers awaited 0.3 s per try, the host named', { timeout: 10_000 }, async () => {
  const silent = await silentListener();
  const storages = new RegistryAndLayoutStorages({ insecureRegistries: [], headersTimeoutMs: 300, retry: { attempts: 2, baseDelayMs: 5 } });
  cleanups.push(() => storages.close());
  const { message, ms } = await failure(storages.open(parseReference(`${silent.host}/tools:v1`)).resolve('v1'));
  expect(message).toBe(`HEAD http://${silent.host}/v2/tools/manifests/v1: no response headers within 0.3 s (after 2 attempts)`);
  expect(ms).toBeGreaterThanOrEqual(550);
  expect(ms).toBeLessThan(3_000);
});

test(
  'a body that stops flowing: 0.3 s of silence breaks it, the resume gets no further, the blob is named',
  { timeout: 10_000 },
  async () => {
    const content = Buffer.alloc(100_000, 7);
    const blob = { mediaType: 'application/octet-stream', digest: sha256(content), size: content.byteLength };
    const server = await loopback((req, res) => {
      const from = Number(/^bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(from === 0 ? 200 : 206, {
        'content-length': String(content.byteLength - from),
        ...(from === 0 ? {} : { 'content-range': `bytes ${from}-${content.byteLength - 1}/${content.byteLength}` }),
      });
      if (from === 0)
        res.write(content.subarray(0, 40_000)); // then nothing, ever
      else res.flushHeaders();
    });
    const repo = client({ bodyTimeoutMs: 300 }).repository({ registry: server.host, repository: 'stalls' });
    const { message, ms } = await failure(read(await repo.fetchBlob(blob)));
    expect(message).toBe(
      `blob ${server.host}/stalls@${blob.digest}: download broke at byte 40000 of 100000, 2 tries in a row stopped there: ` +
        `GET ${server.origin}/v2/stalls/blobs/${blob.digest}: no data for 0.3 s`,
    );
    expect(server.requests.filter((r) => r.url.includes('/blobs/')).map((r) => r.headers.range)).toEqual([undefined, 'bytes=40000-99999']);
    expect(ms).toBeLessThan(3_000);
  },
);

test(
  'a token service that takes the connection but never completes TLS: connect timeout, the host named',
  { timeout: 10_000 },
  async () => {
    const silent = await silentListener();
    const server = await loopback((_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="https://${silent.host}/token",service="test"` }).end();
    });
    const repo = client({ connectTimeoutMs: 300 }).repository({ registry: server.host, repository: 'tools' });
    const { message, ms } = await failure(repo.resolve('v1'));
    expect(message).toContain(`GET https://${silent.host}/token?…: no connection within 0.3 s (after 2 attempts)`);
    expect(silent.connections()).toBe(2);
    expect(ms).toBeLessThan(3_000);
  },
);

test(
  'the CLI hands --response-timeout to its registry requests (every timeout option is parsed alike: cli-args)',
  { timeout: 15_000 },
  async () => {
    const silent = await silentListener();
    const dir = await mkdtemp(join(tmpdir(), 'bs-timeouts-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'batch.csv'), `name,artifact\ntools,${silent.host}/tools:v1\n`);
    const child = spawn(process.execPath, [CLI, join(dir, 'batch.csv'), join(dir, 'sync'), '--response-timeout', '1', '--dry-run']);
    cleanups.push(async () => void child.kill('SIGKILL'));
    let stderr = '';
    // The first retry says which wait ran out and for how long: enough, the rest would only retry. (A name never
    // shipped is read at once: its manifest's GET is the first request.)
    for await (const chunk of child.stderr) if ((stderr += String(chunk)).includes('trying again')) break;
    expect(stderr).toContain(`GET http://${silent.host}/v2/tools/manifests/v1: no response headers within 1 s, trying again in`);
  },
);

test('the defaults: 30 s to connect, 60 s for response headers, 60 s of body silence', async () => {
  const { DEFAULT_TIMEOUTS } = await import('../../src/core/registry/client.ts');
  expect(DEFAULT_TIMEOUTS).toEqual({ connectTimeoutMs: 30_000, headersTimeoutMs: 60_000, bodyTimeoutMs: 60_000 });
});

async function read(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
