import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { DockerConfigKeychain, defaultKeychain, registryKey } from '../../src/core/registry/keychain.ts';

let dir: string;
beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'bs-keychain-'))));
afterAll(() => rm(dir, { recursive: true, force: true }));

const b64 = (text: string) => Buffer.from(text).toString('base64');

async function configDir(config: unknown): Promise<string> {
  const where = await mkdtemp(join(dir, 'config-'));
  await writeFile(join(where, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return where;
}

/** `docker-credential-NAME` scripts in a bin dir of their own; each logs the server it was asked about. */
async function helpers(scripts: Record<string, string>): Promise<{ env: NodeJS.ProcessEnv; log: string }> {
  const bin = await mkdtemp(join(dir, 'bin-'));
  const log = join(bin, 'asked.log');
  for (const [name, body] of Object.entries(scripts)) {
    const file = join(bin, `docker-credential-${name}`);
    await writeFile(file, `#!/bin/sh\nread -r server\necho "${name} $server" >> '${log}'\n${body}\n`);
    await chmod(file, 0o755);
  }
  return { env: { PATH: `${bin}:${process.env.PATH ?? ''}` }, log };
}

test('config keys and registry names are matched by host', () => {
  expect(registryKey('https://index.docker.io/v1/')).toBe('docker.io');
  expect(registryKey('registry-1.docker.io')).toBe('docker.io');
  expect(registryKey('docker.io')).toBe('docker.io');
  expect(registryKey('http://Registry.Example.com:5000/v2/')).toBe('registry.example.com:5000');
  expect(registryKey('ghcr.io')).toBe('ghcr.io');
});

test('auths entries: base64 auth, username/password, identitytoken; Docker Hub under its v1 URL', async () => {
  const keychain = new DockerConfigKeychain({
    configDir: await configDir({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') },
        'registry.example.com': { username: 'u', password: 'p' },
        'https://tokens.example.com': { auth: b64('<token>:'), identitytoken: 'refresh-me' },
        'empty.example.com': {},
      },
    }),
    env: {},
  });
  expect(await keychain.credentialsFor('docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass' });
  expect(await keychain.credentialsFor('registry.example.com')).toEqual({ username: 'u', password: 'p' });
  expect(await keychain.credentialsFor('tokens.example.com')).toEqual({ identityToken: 'refresh-me' });
  expect(await keychain.credentialsFor('empty.example.com')).toBeUndefined();
  expect(await keychain.credentialsFor('other.example.com')).toBeUndefined();
});

test('credHelpers come first, then auths, then credsStore; "not found" is anonymous', async () => {
  const { env, log } = await helpers({
    special: `printf '{"Username":"helper-user","Secret":"helper-secret"}'`,
    store:
      `if [ "$server" = https://index.docker.io/v1/ ]; then printf '{"Username":"<token>","Secret":"hub-refresh"}'; ` +
      `else echo 'credentials not found in native keychain'; exit 1; fi`,
  });
  const keychain = new DockerConfigKeychain({
    configDir: await configDir({
      auths: {
        'special.example.com': { auth: b64('file:user') },
        'file.example.com': { auth: b64('file:user') },
        'https://index.docker.io/v1/': {},
      },
      credHelpers: { 'special.example.com': 'special' },
      credsStore: 'store',
    }),
    env,
  });
  expect(await keychain.credentialsFor('special.example.com')).toEqual({ username: 'helper-user', password: 'helper-secret' });
  expect(await keychain.credentialsFor('file.example.com')).toEqual({ username: 'file', password: 'user' });
  expect(await keychain.credentialsFor('docker.io')).toEqual({ identityToken: 'hub-refresh' });
  expect(await keychain.credentialsFor('unknown.example.com:5000')).toBeUndefined();
  expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual([
    'special special.example.com',
    'store https://index.docker.io/v1/',
    'store unknown.example.com:5000',
  ]);
});

test('helper failures and broken configs are clear errors without secrets', async () => {
  const { env } = await helpers({ broken: `echo 'keychain locked' >&2; exit 3` });
  const broken = new DockerConfigKeychain({ configDir: await configDir({ credsStore: 'broken' }), env });
  await expect(broken.credentialsFor('r.example.com')).rejects.toThrow(
    'docker-credential-broken get r.example.com failed (exit 3): keychain locked',
  );

  const missingDir = await configDir({ credHelpers: { 'r.example.com': 'absent' } });
  await expect(new DockerConfigKeychain({ configDir: missingDir, env }).credentialsFor('r.example.com')).rejects.toThrow(
    `${join(missingDir, 'config.json')} names credential helper docker-credential-absent, which is not on PATH`,
  );

  const badDir = await configDir('{ "auths": ');
  await expect(new DockerConfigKeychain({ configDir: badDir }).credentialsFor('r.example.com')).rejects.toThrow(
    `${join(badDir, 'config.json')}: not a valid Docker config`,
  );
  const notAuth = await configDir({ auths: { 'r.example.com': { auth: b64('no-colon-here') } } });
  await expect(new DockerConfigKeychain({ configDir: notAuth }).credentialsFor('r.example.com')).rejects.toThrow(
    /"auth" is not base64 of user:password/,
  );
});

test('where the config is found: DOCKER_CONFIG, else ~/.docker; none at all is anonymous', async () => {
  const viaEnv = await configDir({ auths: { 'r.example.com': { username: 'env', password: 'x' } } });
  expect(await new DockerConfigKeychain({ env: { DOCKER_CONFIG: viaEnv } }).credentialsFor('r.example.com')).toEqual({
    username: 'env',
    password: 'x',
  });

  const home = await mkdtemp(join(dir, 'home-'));
  await mkdir(join(home, '.docker'));
  await writeFile(
    join(home, '.docker', 'config.json'),
    JSON.stringify({ auths: { 'r.example.com': { username: 'home', password: 'y' } } }),
  );
  expect(await new DockerConfigKeychain({ env: { HOME: home } }).credentialsFor('r.example.com')).toEqual({
    username: 'home',
    password: 'y',
  });

  expect(await new DockerConfigKeychain({ env: { DOCKER_CONFIG: join(dir, 'nowhere') } }).credentialsFor('r.example.com')).toBeUndefined();
});

test('explicit credentials win over the Docker config', async () => {
  const options = {
    configDir: await configDir({
      auths: { 'r.example.com': { username: 'file', password: 'f' }, 'o.example.com': { username: 'o', password: 'o' } },
    }),
  };
  const keychain = defaultKeychain({ 'https://r.example.com': { username: 'action', password: 'a' } }, options);
  expect(await keychain.credentialsFor('r.example.com')).toEqual({ username: 'action', password: 'a' });
  expect(await keychain.credentialsFor('o.example.com')).toEqual({ username: 'o', password: 'o' });
});
