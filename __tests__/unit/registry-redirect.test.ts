import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { sha256 } from '../../src/core/oci/digest.ts';
import { RegistryClient } from '../../src/core/registry/client.ts';
import { StaticKeychain } from '../../src/core/registry/keychain.ts';
import { startLoopbackServer, type LoopbackServer } from '../support/redirect-server.ts';

const content = randomBytes(100_000);
const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(content), size: content.byteLength };
const credentials = { username: 'bob', password: 'secret-pw' };
const basic = 'Basic ' + Buffer.from('bob:secret-pw').toString('base64');

let storage: LoopbackServer;
let registry: LoopbackServer;
let client: RegistryClient;

beforeAll(async () => {
  // Another origin (another port), like the object storage a registry redirects blob downloads to.
  storage = await startLoopbackServer((req, res) => {
    if (req.url === `/storage/${layer.digest}?X-Signature=abc`) return void res.end(content);
    res.writeHead(404).end();
  });
  // A registry that wants Basic auth and redirects blob GETs, to storage or to itself.
  registry = await startLoopbackServer((req, res) => {
    if (req.headers.authorization !== basic) {
      return void res.writeHead(401, { 'www-authenticate': 'Basic realm="front"' }).end();
    }
    const url = req.url ?? '';
    if (url === `/v2/away/blobs/${layer.digest}`) {
      return void res.writeHead(307, { location: `${storage.origin}/storage/${layer.digest}?X-Signature=abc` }).end();
    }
    if (url === `/v2/home/blobs/${layer.digest}`) return void res.writeHead(307, { location: `/local/${layer.digest}` }).end();
    if (url === `/local/${layer.digest}`) return void res.end(content);
    if (url.startsWith('/v2/loop/')) return void res.writeHead(302, { location: url }).end();
    res.writeHead(404).end();
  });
  client = new RegistryClient({ keychain: new StaticKeychain({ [registry.host]: credentials }) });
});
afterAll(async () => {
  await client?.close();
  await registry?.stop();
  await storage?.stop();
});

async function read(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test('a redirect to another origin drops Authorization', async () => {
  const blob = await client.repository({ registry: registry.host, repository: 'away' }).fetchBlob(layer);
  expect(await read(blob)).toEqual(content);
  const asked = registry.requests.filter((r) => r.url === `/v2/away/blobs/${layer.digest}`);
  // The first try goes before the scheme is known, without credentials: its 401 says Basic, the second carries them.
  expect(asked.map((r) => r.headers.authorization)).toEqual([undefined, basic]);
  expect(storage.requests).toHaveLength(1);
  expect(storage.requests[0]!.headers.authorization).toBeUndefined();
});

test('a redirect within the registry origin keeps Authorization', async () => {
  const blob = await client.repository({ registry: registry.host, repository: 'home' }).fetchBlob(layer);
  expect(await read(blob)).toEqual(content);
  const local = registry.requests.filter((r) => r.url === `/local/${layer.digest}`);
  expect(local.map((r) => r.headers.authorization)).toEqual([basic]);
});

test('redirects stop after 5 hops, and the error does not show the signed query', async () => {
  const before = registry.requests.length;
  await expect(client.repository({ registry: registry.host, repository: 'loop' }).fetchBlob(layer)).rejects.toThrow(
    `GET ${registry.origin}/v2/loop/blobs/${layer.digest}: more than 5 redirects`,
  );
  expect(registry.requests.length - before).toBe(6);
});
