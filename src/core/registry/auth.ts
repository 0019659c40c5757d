/**
 * Registry authentication (the distribution token spec and Basic auth): learns the scheme from
 * challenges, fetches bearer tokens per scope, caches them and refreshes one on a later 401.
 */
import { parseChallenges, type Challenge } from './challenge.ts';
import { RegistryError, UnauthorizedError, describeRequest } from './errors.ts';
import { isIdentityToken, type Credentials, type Keychain } from './keychain.ts';

/** How the authenticator reaches a token realm: a plain HTTP exchange, retried by the transport. */
export type TokenHttp = (request: {
  url: URL;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: Uint8Array;
}) => Promise<{ status: number; statusText: string; text: string }>;

interface Token {
  value: string;
  /** Epoch ms after which the token is fetched again before use; undefined when the server did not say. */
  expiresAt: number | undefined;
}

/** Refetch a token this long before the expiry the token server announced. */
const EXPIRY_SLACK_MS = 10_000;
const CLIENT_ID = 'batch-serialize';

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

export class Authenticator {
  private readonly registry: string;
  private readonly keychain: Keychain;
  private readonly http: TokenHttp;
  /** The registry is reached over HTTPS: its credentials never go to a token realm over plain HTTP. */
  private readonly overTls: boolean;
  private credentials: Promise<Credentials | undefined> | undefined;
  /** The scheme in force (bearer preferred over basic); undefined while the registry asks for none. */
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, Promise<Token>>();

  constructor(registry: string, keychain: Keychain, http: TokenHttp, overTls: boolean) {
    this.registry = registry;
    this.keychain = keychain;
    this.http = http;
    this.overTls = overTls;
  }

  /** Takes the scheme from a `WWW-Authenticate` header (a ping's or a 401's). */
  learn(header: string | string[] | undefined): void {
    const challenges = parseChallenges(header);
    const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (chosen !== undefined) this.challenge = chosen;
  }

  /** Whether a challenge (a ping's or a 401's) named the scheme yet. */
  get knowsScheme(): boolean {
    return this.challenge !== undefined;
  }

  /** The Authorization header for a request needing these scopes, or undefined (anonymous). */
  async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') return basicHeader(await this.getCredentials());
    const key = scopeKey(scopes);
    let token = this.tokens.get(key);
    if (token !== undefined) {
      const current = await token.catch(() => undefined);
      if (current === undefined || (current.expiresAt !== undefined && current.expiresAt - EXPIRY_SLACK_MS < Date.now())) {
        token = undefined;
      }
    }
    token ??= this.cacheToken(key, challenge, scopes);
    return `Bearer ${(await token).value}`;
  }

  /**
   * After a 401: the header to try once more with, or undefined when there is nothing new to try.
   * A request sent without credentials gets the ones the challenge asks for, as after a ping (`authorization`);
   * a bearer token is refreshed (unless another request already did), with any scopes the challenge adds.
   */
  async reauthorize(
    scopes: readonly string[],
    header: string | string[] | undefined,
    used: string | undefined,
  ): Promise<string | undefined> {
    this.learn(header);
    if (used === undefined) return this.authorization(scopes);
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') {
      const basic = basicHeader(await this.getCredentials());
      return basic !== used ? basic : undefined;
    }
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached !== undefined) {
      const current = await cached.catch(() => undefined);
      if (current !== undefined && `Bearer ${current.value}` !== used) return `Bearer ${current.value}`;
    }
    const wanted = [...new Set([...scopes, ...(challenge.params.scope ?? '').split(' ').filter(Boolean)])];
    return `Bearer ${(await this.cacheToken(key, challenge, wanted)).value}`;
  }

  /** For messages: `user "alice"`, `an identity token`, `anonymous access, no credentials found`. Never a secret. */
  async identity(): Promise<string> {
    const credentials = await this.getCredentials();
    if (credentials === undefined) return 'anonymous access, no credentials found';
    return isIdentityToken(credentials) ? 'an identity token' : `user ${JSON.stringify(credentials.username)}`;
  }

  private getCredentials(): Promise<Credentials | undefined> {
    this.credentials ??= this.keychain.credentialsFor(this.registry);
    return this.credentials;
  }

  private cacheToken(key: string, challenge: Challenge, scopes: readonly string[]): Promise<Token> {
    const token = this.fetchToken(challenge, scopes);
    this.tokens.set(key, token);
    token.catch(() => {
      if (this.tokens.get(key) === token) this.tokens.delete(key);
    });
    return token;
  }

  private async fetchToken(challenge: Challenge, scopes: readonly string[]): Promise<Token> {
    const realm = challenge.params.realm;
    const url = URL.parse(realm ?? '');
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new RegistryError(`${this.registry}: bearer challenge has no usable realm (${JSON.stringify(realm ?? '')})`, 401);
    }
    const service = challenge.params.service;
    const credentials = await this.getCredentials();
    if (credentials !== undefined && url.protocol === 'http:' && this.overTls) {
      // A registry reached over HTTPS does not get its credentials sent in the clear on the way to a token.
      throw new UnauthorizedError(
        `unauthorized: ${this.registry} names the token realm ${url.origin}${url.pathname}, which is plain HTTP: ` +
          `${await this.identity()} is not sent there (the registry itself is reached over HTTPS)`,
        401,
      );
    }
    let response: Awaited<ReturnType<TokenHttp>>;
    let method: 'GET' | 'POST';
    if (credentials !== undefined && isIdentityToken(credentials)) {
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credentials.identityToken, client_id: CLIENT_ID });
      if (service) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      response = await this.http({
        url,
        method,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
      });
    } else {
      method = 'GET';
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const basic = basicHeader(credentials);
      response = await this.http({ url, method, headers: basic ? { authorization: basic } : {} });
    }
    const what = `token request ${describeRequest(method, url)} for ${this.registry}`;
    if (response.status === 401 || response.status === 403) {
      throw new UnauthorizedError(
        `unauthorized: authentication failed for ${this.registry}: the token server refused ${await this.identity()} ` +
          `(${what}: ${response.status}; check docker login / credentials)`,
        response.status,
      );
    }
    if (response.status !== 200) throw new RegistryError(`${what}: ${response.status} ${response.statusText}`, response.status);
    return parseTokenResponse(what, response.text);
  }
}

function parseTokenResponse(what: string, text: string): Token {
  let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    throw new RegistryError(`${what}: answer is not JSON`, 200);
  }
  const value = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
  if (typeof value !== 'string' || value === '') throw new RegistryError(`${what}: answer holds no token`, 200);
  const expiresIn = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : undefined;
  return { value, expiresAt: expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000 };
}

function basicHeader(credentials: Credentials | undefined): string | undefined {
  if (credentials === undefined || isIdentityToken(credentials)) return undefined;
  return 'Basic ' + Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}
