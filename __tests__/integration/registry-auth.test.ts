import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sha256 } from '../../src/core/oci/digest.ts';
import { MediaType, type Descriptor } from '../../src/core/oci/descriptor.ts';
import { CHUNK_BYTES } from '../../src/core/registry/blob-upload.ts';
import { RegistryClient } from '../../src/core/registry/client.ts';
import { UnauthorizedError } from '../../src/core/registry/errors.ts';
import { DockerConfigKeychain, StaticKeychain, type Keychain } from '../../src/core/registry/keychain.ts';
import { proxyTo, startLoopbackServer } from '../support/redirect-server.ts';
import { startHtpasswdRegistry, startTokenRegistry, type AuthRegistry, type TokenAuthRegistry } from './support/auth-registry.ts';

let dir: string;
const clients: RegistryClient[] = [];
beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'bs-auth-test-'))));
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await rm(dir, { recursive: true, force: true });
});

function clientWith(keychain: Keychain): RegistryClient {
  const client = new RegistryClient({ keychain, retry: { baseDelayMs: 10 } });
  clients.push(client);
  return client;
}

async function dockerConfig(name: string, config: unknown): Promise<string> {
  const configDir = await mkdtemp(join(dir, `${name}-`));
  await writeFile(join(configDir, 'config.json'), JSON.stringify(config));
  return configDir;
}

/** A `docker-credential-test` on a PATH of its own, answering for one server only. */
async function credentialHelper(name: string, server: string, username: string, secret: string): Promise<NodeJS.ProcessEnv> {
  const bin = await mkdtemp(join(dir, `${name}-bin-`));
  const script = join(bin, 'docker-credential-test');
  await writeFile(
    script,
    [
      '#!/bin/sh',
      '[ "$1" = get ] || exit 2',
      'read -r server',
      `if [ "$server" = '${server}' ]; then`,
      `  printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\\n' "$server" '${username}' '${secret}'`,
      'else',
      '  echo "credentials not found in native keychain"; exit 1',
      'fi',
    ].join('\n') + '\n',
  );
  await chmod(script, 0o755);
  return { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
}

/** Pushes a layer and a manifest naming it; reads both back by tag. */
async function roundTrip(client: RegistryClient, host: string, repository: string): Promise<Descriptor> {
  const repo = client.repository({ registry: host, repository });
  const bytes = randomBytes(4096);
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(bytes), size: bytes.byteLength };
  const config = Buffer.from('{}');
  const configDescriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.byteLength };
  await repo.pushBlob(layer, bytes);
  await repo.pushBlob(configDescriptor, config);
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: [layer] }),
  );
  const pushed = await repo.pushManifest('v1', MediaType.ociManifest, manifest);
  const resolved = await repo.resolve('v1');
  expect(resolved).toEqual(pushed);
  expect(Buffer.from(await repo.fetchManifest(resolved))).toEqual(manifest);
  const chunks: Buffer[] = [];
  for await (const chunk of await repo.fetchBlob(layer)) chunks.push(chunk as Buffer);
  expect(Buffer.concat(chunks)).toEqual(bytes);
  return resolved;
}

function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error as Error,
  );
}

describe('htpasswd (Basic) auth', () => {
  let auth: AuthRegistry;
  beforeAll(async () => (auth = await startHtpasswdRegistry()));
  afterAll(() => auth?.stop());

  test('anonymous is denied with a clear error', async () => {
    const error = await failure(
      clientWith(new StaticKeychain({})).repository({ registry: auth.registry.host, repository: 'app' }).resolve('v1'),
    );
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(error.message).toBe(
      `HEAD ${auth.registry.url}/v2/app/manifests/v1: 401 unauthorized: authentication required for ${auth.registry.host} ` +
        `(tried anonymous access, no credentials found; check docker login / credentials)`,
    );
  });

  test('explicit credentials', async () => {
    const client = clientWith(new StaticKeychain({ [auth.registry.host]: { username: auth.username, password: auth.password } }));
    await roundTrip(client, auth.registry.host, 'explicit');
  });

  test('a DOCKER_CONFIG with an auths entry (key given as a URL)', async () => {
    const configDir = await dockerConfig('basic-auths', {
      auths: { [`http://${auth.registry.host}/v2/`]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') } },
    });
    await roundTrip(clientWith(new DockerConfigKeychain({ configDir })), auth.registry.host, 'config');
  });

  test('a credsStore helper on PATH', async () => {
    const configDir = await dockerConfig('basic-store', { auths: { [auth.registry.host]: {} }, credsStore: 'test' });
    const env = await credentialHelper('basic', auth.registry.host, auth.username, auth.password);
    await roundTrip(clientWith(new DockerConfigKeychain({ configDir, env })), auth.registry.host, 'store');
  });

  test('a wrong password is a clear error that does not show the password', async () => {
    const client = clientWith(new StaticKeychain({ [auth.registry.host]: { username: auth.username, password: 'wrong-secret' } }));
    const error = await failure(client.repository({ registry: auth.registry.host, repository: 'app' }).resolve('v1'));
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(error.message).toContain(
      `authentication required for ${auth.registry.host} (tried user "alice"; check docker login / credentials)`,
    );
    expect(error.message).not.toContain('wrong-secret');
  });
});

describe('token auth', () => {
  let auth: TokenAuthRegistry;
  beforeAll(async () => (auth = await startTokenRegistry()));
  afterAll(() => auth?.stop());

  const explicit = (): Keychain => new StaticKeychain({ [auth.registry.host]: { username: auth.username, password: auth.password } });

  test('anonymous gets a token that grants nothing: denied after one refresh, with a clear error', async () => {
    const before = auth.tokenRequests.length;
    const error = await failure(
      clientWith(new StaticKeychain({})).repository({ registry: auth.registry.host, repository: 'app' }).resolve('v1'),
    );
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(error.message).toContain(
      `401 unauthorized: authentication required for ${auth.registry.host} (tried anonymous access, no credentials found`,
    );
    expect(error.message).toContain('check docker login / credentials');
    expect(auth.tokenRequests.slice(before).map((r) => r.user)).toEqual([undefined, undefined]);
  });

  test('tokens are fetched once per scope and reused', async () => {
    const client = clientWith(explicit());
    const before = auth.tokenRequests.length;
    await roundTrip(client, auth.registry.host, 'cached');
    const repo = client.repository({ registry: auth.registry.host, repository: 'cached' });
    const descriptor = await repo.resolve('v1');
    await repo.fetchManifest(descriptor);
    expect(await repo.exists(descriptor)).toBe(true);
    await expect(client.repository({ registry: auth.registry.host, repository: 'other' }).resolve('v1')).rejects.toThrow(
      /404 NAME_UNKNOWN|404 MANIFEST_UNKNOWN/,
    );
    expect(auth.tokenRequests.slice(before)).toEqual([
      { method: 'GET', user: 'alice', scopes: ['repository:cached:pull,push'] },
      { method: 'GET', user: 'alice', scopes: ['repository:cached:pull'] },
      { method: 'GET', user: 'alice', scopes: ['repository:other:pull'] },
    ]);
  });

  test('first requests sent at once learn the scheme from their own 401s, no GET /v2/, and share one token', async () => {
    const pushed = await roundTrip(clientWith(explicit()), auth.registry.host, 'first');
    const front = await startLoopbackServer((req, res) => proxyTo(auth.registry.url, req, res));
    try {
      const before = auth.tokenRequests.length;
      const keychain = new StaticKeychain({ [front.host]: { username: auth.username, password: auth.password } });
      const repo = clientWith(keychain).repository({ registry: front.host, repository: 'first' });
      expect(await Promise.all([repo.resolve('v1'), repo.resolve('v1'), repo.resolve('v1')])).toEqual([pushed, pushed, pushed]);
      expect(await repo.fetchManifest(pushed)).toHaveLength(pushed.size);
      expect(auth.tokenRequests.slice(before)).toEqual([{ method: 'GET', user: 'alice', scopes: ['repository:first:pull'] }]);
      expect(front.requests.filter((r) => r.url === '/v2/')).toEqual([]);
      // The three HEADs went before the scheme was known; everything after them carries the one token.
      expect(front.requests.filter((r) => r.headers.authorization === undefined).map((r) => r.answered?.status)).toEqual([401, 401, 401]);
      expect(new Set(front.requests.map((r) => r.headers.authorization).filter(Boolean)).size).toBe(1);
    } finally {
      await front.stop();
    }
  });

  test('a blob streamed up after its POST met the challenge: no GET /v2/ before the stream either', async () => {
    const front = await startLoopbackServer((req, res) => proxyTo(auth.registry.url, req, res));
    try {
      const keychain = new StaticKeychain({ [front.host]: { username: auth.username, password: auth.password } });
      const repo = clientWith(keychain).repository({ registry: front.host, repository: 'streamed' });
      // Over CHUNK_BYTES, a stream goes whole in one PUT: a body that cannot be sent twice.
      const bytes = Buffer.alloc(CHUNK_BYTES + 1, 7);
      const layer = { mediaType: 'application/octet-stream', digest: sha256(bytes), size: bytes.byteLength };
      expect(await repo.pushBlob(layer, Readable.from([bytes]))).toBe('uploaded');
      expect(front.requests.map((r) => `${r.method} ${r.url.split('?')[0]} ${r.answered?.status}`)).toEqual([
        'POST /v2/streamed/blobs/uploads/ 401',
        'POST /v2/streamed/blobs/uploads/ 202',
        expect.stringMatching(/^PUT \/v2\/streamed\/blobs\/uploads\/[^ ]+ 201$/),
      ]);
    } finally {
      await front.stop();
    }
  });

  test('a 401 for an expired token refreshes it once', async () => {
    await roundTrip(clientWith(explicit()), auth.registry.host, 'expiry');
    const before = auth.tokenRequests.length;
    auth.expireNextTokens(1);
    const repo = clientWith(explicit()).repository({ registry: auth.registry.host, repository: 'expiry' });
    expect((await repo.resolve('v1')).mediaType).toBe(MediaType.ociManifest);
    expect(auth.tokenRequests.length - before).toBe(2);

    // Tokens that never work: one refresh, then a clear error (no loop).
    auth.expireNextTokens(10);
    const again = auth.tokenRequests.length;
    const error = await failure(clientWith(explicit()).repository({ registry: auth.registry.host, repository: 'expiry' }).resolve('v1'));
    expect(error.message).toContain('(tried user "alice"');
    expect(auth.tokenRequests.length - again).toBe(2);
    auth.expireNextTokens(0);
  });

  test('a wrong password: the token server refuses, and the error says so without the password', async () => {
    const client = clientWith(new StaticKeychain({ [auth.registry.host]: { username: auth.username, password: 'wrong-secret' } }));
    const error = await failure(client.repository({ registry: auth.registry.host, repository: 'app' }).resolve('v1'));
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(error.message).toContain(`unauthorized: authentication failed for ${auth.registry.host}: the token server refused user "alice"`);
    expect(error.message).not.toContain('wrong-secret');
  });

  test('an identity token from config.json is exchanged by the OAuth2 refresh-token grant', async () => {
    const configDir = await dockerConfig('token-identity', { auths: { [auth.registry.host]: { identitytoken: auth.identityToken } } });
    const before = auth.tokenRequests.length;
    await roundTrip(clientWith(new DockerConfigKeychain({ configDir })), auth.registry.host, 'identity');
    expect(auth.tokenRequests.slice(before).map((r) => [r.method, r.user])).toEqual([
      ['POST', 'alice'],
      ['POST', 'alice'],
    ]);
  });

  test('a credential helper answering with <token> gives an identity token', async () => {
    const configDir = await dockerConfig('token-helper', { credHelpers: { [auth.registry.host]: 'test' } });
    const env = await credentialHelper('token', auth.registry.host, '<token>', auth.identityToken);
    const before = auth.tokenRequests.length;
    await roundTrip(clientWith(new DockerConfigKeychain({ configDir, env })), auth.registry.host, 'helper');
    expect(auth.tokenRequests.slice(before).every((r) => r.method === 'POST' && r.user === 'alice')).toBe(true);
  });
});
