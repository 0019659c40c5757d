/**
 * Credentials for a registry host (go-containerregistry's authn.Keychain): the caller's explicit
 * credentials first, then the Docker client configuration and its credential helpers.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface BasicCredentials {
  username: string;
  password: string;
}

/** An OAuth2 refresh token (`identitytoken` in config.json), exchanged at the registry's token realm. */
export interface TokenCredentials {
  identityToken: string;
}

export type Credentials = BasicCredentials | TokenCredentials;

export interface Keychain {
  /** Undefined means anonymous. */
  credentialsFor(registry: string): Promise<Credentials | undefined>;
}

export function isIdentityToken(credentials: Credentials): credentials is TokenCredentials {
  return 'identityToken' in credentials;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);
/** What `docker login` records Docker Hub under, and asks credential helpers about. */
const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

/** The host a config key or registry name means: scheme and path dropped, Docker Hub's aliases folded. */
export function registryKey(nameOrUrl: string): string {
  const host = nameOrUrl
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/** Credentials given by the caller (the Action's `registry-username`/`registry-password`), keyed by registry. */
export class StaticKeychain implements Keychain {
  private readonly entries: Map<string, BasicCredentials>;

  constructor(credentials: Record<string, BasicCredentials>) {
    this.entries = new Map(Object.entries(credentials).map(([registry, c]) => [registryKey(registry), c]));
  }

  async credentialsFor(registry: string): Promise<Credentials | undefined> {
    return this.entries.get(registryKey(registry));
  }
}

/** Asks each keychain in turn; the first that knows the registry wins. */
export class MultiKeychain implements Keychain {
  private readonly keychains: readonly Keychain[];

  constructor(keychains: readonly Keychain[]) {
    this.keychains = keychains;
  }

  async credentialsFor(registry: string): Promise<Credentials | undefined> {
    for (const keychain of this.keychains) {
      const credentials = await keychain.credentialsFor(registry);
      if (credentials !== undefined) return credentials;
    }
    return undefined;
  }
}

export interface DockerConfigOptions {
  /** The directory holding config.json; default `$DOCKER_CONFIG`, else `~/.docker`. */
  configDir?: string;
  /** Environment for finding the config and running `docker-credential-*` (PATH); default process.env. */
  env?: NodeJS.ProcessEnv;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/**
 * `~/.docker/config.json`. Order: the host's `credHelpers` entry (Docker gives it precedence), then an
 * `auths` entry that holds credentials, then `credsStore` (which leaves empty `auths` placeholders behind).
 */
export class DockerConfigKeychain implements Keychain {
  private readonly env: NodeJS.ProcessEnv;
  private readonly file: string;
  private config: Promise<DockerConfigFile> | undefined;

  constructor(options: DockerConfigOptions = {}) {
    this.env = options.env ?? process.env;
    const dir = options.configDir ?? this.env.DOCKER_CONFIG ?? join(this.env.HOME ?? homedir(), '.docker');
    this.file = join(dir, 'config.json');
  }

  async credentialsFor(registry: string): Promise<Credentials | undefined> {
    this.config ??= readConfig(this.file);
    const config = await this.config;
    const key = registryKey(registry);
    const helper = findByHost(config.credHelpers, key);
    if (helper !== undefined) return this.runHelper(helper, registry);
    const entry = findByHost(config.auths, key);
    const fromFile = entry === undefined ? undefined : decodeAuthEntry(entry, `${this.file}: auths entry for ${registry}`);
    if (fromFile !== undefined) return fromFile;
    if (config.credsStore) return this.runHelper(config.credsStore, registry);
    return undefined;
  }

  private async runHelper(name: string, registry: string): Promise<Credentials | undefined> {
    const server = registryKey(registry) === DOCKER_HUB ? DOCKER_HUB_SERVER : registry;
    return credentialHelperGet(name, server, this.env, this.file);
  }
}

/** Explicit credentials first, then the Docker configuration. */
export function defaultKeychain(explicit: Record<string, BasicCredentials> = {}, options: DockerConfigOptions = {}): Keychain {
  return new MultiKeychain([new StaticKeychain(explicit), new DockerConfigKeychain(options)]);
}

async function readConfig(file: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`${file}: cannot read Docker config: ${(error as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as DockerConfigFile;
  } catch (error) {
    throw new Error(`${file}: not a valid Docker config: ${(error as Error).message}`);
  }
}

function findByHost<T>(entries: Record<string, T> | undefined, key: string): T | undefined {
  if (entries === undefined) return undefined;
  for (const [name, value] of Object.entries(entries)) if (registryKey(name) === key) return value;
  return undefined;
}

function decodeAuthEntry(entry: AuthEntry, where: string): Credentials | undefined {
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new Error(`${where}: "auth" is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

const HELPER_TIMEOUT_MS = 60_000;

/** `docker-credential-NAME get` with the server on stdin; "credentials not found" means anonymous. */
async function credentialHelperGet(
  name: string,
  server: string,
  env: NodeJS.ProcessEnv,
  configFile: string,
): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: HELPER_TIMEOUT_MS });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error(`${configFile} names credential helper ${program}, which is not on PATH`)
          : new Error(`${program} get ${server}: ${error.message}`),
      ),
    );
    child.on('close', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(server);
  });
  if (code !== 0) {
    const said = (stdout + '\n' + stderr).trim();
    if (/credentials not found/i.test(said)) return undefined;
    throw new Error(`${program} get ${server} failed (exit ${code}): ${said.split('\n')[0]?.slice(0, 200) || 'no output'}`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(stdout) as { Username?: unknown; Secret?: unknown };
  } catch {
    throw new Error(`${program} get ${server}: output is not JSON`);
  }
  if (typeof parsed.Secret !== 'string' || parsed.Secret === '') return undefined;
  const username = typeof parsed.Username === 'string' ? parsed.Username : '';
  return username === '<token>' ? { identityToken: parsed.Secret } : { username, password: parsed.Secret };
}
