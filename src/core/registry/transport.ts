/**
 * HTTP to one registry (go-containerregistry's transport layer): a keep-alive undici Pool for the registry's origin,
 * bearer/basic auth, retries with backoff, and redirects followed by hand so Authorization never leaves the registry's
 * origin. A request that can be sent twice goes out at once and learns the auth scheme from its own 401, then goes
 * again with credentials: an anonymous registry answers it directly, where a `GET /v2/` ping first would cost a round
 * trip. Only a body that cannot be sent twice (a streamed upload) waits for that ping, once per registry and only
 * while no 401 named the scheme, so that it carries credentials the first time.
 */
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import './wasm-tiers.ts';
import { Pool, request, type Agent, type Dispatcher } from '../undici.ts';
import { isLoopbackHost, apiHost } from '../oci/reference.ts';
import { Authenticator, type TokenHttp } from './auth.ts';
import { readCapped } from '../streams.ts';
import { RegistryError, UnauthorizedError, describeRequest, readErrorBody, statusMessage, type ErrorBody } from './errors.ts';
import type { Keychain } from './keychain.ts';
import {
  brokenConnectionCode,
  describeError,
  errorCode,
  isRetryableStatus,
  isTransientError,
  retryAfterMs,
  retryDelayMs,
  waitBeforeRetry,
  type RetryPolicy,
} from './retry.ts';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';

export interface RegistryRequest {
  method: Method;
  /** A path and query on the registry (`/v2/...`), or an absolute URL it handed out (an upload location). */
  path: string;
  /** Token scopes the request needs: `repository:NAME:pull`. */
  scopes: readonly string[];
  /** Statuses the caller handles; any other is thrown as a RegistryError. */
  expect: readonly number[];
  headers?: Record<string, string>;
  /** Bytes, whole or as buffers in order, can be sent again (retries, auth); a stream is sent once. */
  body?: RequestBody;
  /**
   * False: a connection that broke under the request (brokenConnectionCode) fails it at once, as the caller has a
   * better next step than the same request again (a whole blob goes in chunks: blob-upload.ts). Default true.
   */
  retryBroken?: boolean;
}

export type RegistryResponse = Dispatcher.ResponseData;

/** What a request sends: bytes, buffers sent one after another (held pieces of a stream, not copied), or a stream. */
export type RequestBody = Uint8Array | readonly Uint8Array[] | Readable;

export interface TransportOptions {
  /** The registry as users name it (`docker.io`, `localhost:5000`). */
  registry: string;
  keychain: Keychain;
  /** Hosts spoken to over plain HTTP besides loopback ones: `host` or `host:port`. */
  insecureHosts: readonly string[];
  userAgent: string;
  retry: RetryPolicy;
  /** Shared by all transports for origins other than registries': token realms and blob storage. Made with dispatcherOptions. */
  foreign: Agent;
  timeouts: Timeouts;
}

/** How long each wait may last (undici's connect timeout, headersTimeout, bodyTimeout), in milliseconds. */
export interface Timeouts {
  /** To open a connection, TLS handshake included. */
  connectTimeoutMs: number;
  /** From sending a request to its response's headers. */
  headersTimeoutMs: number;
  /** Between two pieces of a response body (not while we hold the body back ourselves). */
  bodyTimeoutMs: number;
}

/**
 * Connections kept to one origin at most (the registry, and each blob store it redirects to), reused from request to
 * request: a new one pays its handshakes and TCP's slow start again. Requests past the cap wait for one to be free.
 */
export const CONNECTIONS_PER_ORIGIN = 16;

/** undici's options for those timeouts and the connection cap: for the registry's Pool and the foreign Agent alike. */
export function dispatcherOptions(timeouts: Timeouts): Pool.Options {
  return {
    connect: { timeout: timeouts.connectTimeoutMs },
    headersTimeout: timeouts.headersTimeoutMs,
    bodyTimeout: timeouts.bodyTimeoutMs,
    connections: CONNECTIONS_PER_ORIGIN,
  };
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const TOKEN_RESPONSE_LIMIT = 1024 * 1024;
/**
 * How much of a response undici reads ahead of its consumer. Its 64 KiB default pauses and resumes the socket
 * for nearly every chunk of a blob; 1 MiB cut about a tenth of the CPU a 400 MB tar costs (`npm run bench`).
 */
const BODY_BUFFER_BYTES = 1024 * 1024;

export function registryOrigin(registry: string, insecureHosts: readonly string[]): string {
  const host = apiHost(registry);
  const bare = host.replace(/:[0-9]+$/, '');
  const insecure = isLoopbackHost(host) || insecureHosts.some((h) => h === host || h === registry || h === bare);
  return `${insecure ? 'http' : 'https'}://${host}`;
}

export class Transport {
  readonly registry: string;
  readonly origin: string;
  private readonly pool: Pool;
  private readonly foreign: Agent;
  private readonly userAgent: string;
  /** Also what blob downloads that break mid-body resume by (repository.ts). */
  readonly retry: RetryPolicy;
  private readonly auth: Authenticator;
  private readonly timeouts: Timeouts;
  private pinged: Promise<void> | undefined;
  private preconnected = false;
  /** Whether the registry has answered as one yet: see refused. */
  private answered = false;

  constructor(options: TransportOptions) {
    this.registry = options.registry;
    this.origin = registryOrigin(options.registry, options.insecureHosts);
    this.timeouts = options.timeouts;
    this.pool = new Pool(this.origin, dispatcherOptions(options.timeouts));
    this.foreign = options.foreign;
    this.userAgent = options.userAgent;
    this.retry = options.retry;
    this.auth = new Authenticator(
      options.registry,
      options.keychain,
      (request) => this.tokenExchange(request),
      this.origin.startsWith('https:'),
    );
  }

  /**
   * Sends a request with auth, retries and redirects. Resolves only with an expected status; the caller
   * must then consume or destroy the body. Every other response body is finished here.
   */
  async request(request: RegistryRequest): Promise<RegistryResponse> {
    const canResend = replayable(request.body);
    // A body sent once must carry credentials the first time; an earlier request's 401 may have named the scheme already
    // (an upload's POST always goes first), else the ping asks.
    if (!canResend && !this.auth.knowsScheme) await this.ping();
    const url = new URL(request.path, this.origin);
    const what = describeRequest(request.method, url);
    let authorization = await this.auth.authorization(request.scopes);
    let response = await this.send(request, url, what, authorization);
    // After a 401, one more try with fresh credentials; two after one sent with none (before the scheme was known, or
    // while the registry asked for none): its 401 taught the scheme as a ping's would have, so the second try is the
    // first with credentials and the third its one refresh, as when a ping came first.
    let tries = authorization === undefined ? 2 : 1;
    while (response.statusCode === 401 && canResend && tries-- > 0) {
      const challenge = response.headers['www-authenticate'];
      await response.body.dump();
      const retried = await this.auth.reauthorize(request.scopes, challenge, authorization);
      if (retried === undefined) throw await this.unauthorized(what, 401, { codes: [], text: '' });
      authorization = retried;
      response = await this.send(request, url, what, retried);
    }
    if (request.expect.includes(response.statusCode)) {
      if (response.statusCode < 300) this.answered = true;
      return response;
    }
    const body = await readErrorBody(response.body);
    if (response.statusCode === 401) throw await this.unauthorized(what, 401, body);
    throw this.refused(what, response, body);
  }

  /**
   * Opens `connections` more connections now, once per registry, so that downloads to come find them past their
   * handshakes (TCP, then TLS: two round trips each, 80 ms at 40 ms): a `HEAD /v2/` on each, whatever it answers.
   * Failures are left to the requests that follow, which meet them again and say so.
   */
  preconnect(connections: number): void {
    if (this.preconnected) return;
    this.preconnected = true;
    for (let i = 0; i < Math.min(connections, CONNECTIONS_PER_ORIGIN); i++) {
      request(this.pool, { method: 'HEAD', path: '/v2/', headers: this.baseHeaders(), reset: false })
        .then((response) => response.body.dump())
        .catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** What went wrong on the wire, for a message: a timeout says which wait ran out and how long it was. */
  describe(error: unknown): string {
    switch (errorCode(error, (code) => code.startsWith('UND_ERR_') && code.endsWith('_TIMEOUT'))) {
      case 'UND_ERR_CONNECT_TIMEOUT':
        return `no connection within ${seconds(this.timeouts.connectTimeoutMs)}`;
      case 'UND_ERR_HEADERS_TIMEOUT':
        return `no response headers within ${seconds(this.timeouts.headersTimeoutMs)}`;
      case 'UND_ERR_BODY_TIMEOUT':
        return `no data for ${seconds(this.timeouts.bodyTimeoutMs)}`;
      default:
        return describeError(error);
    }
  }

  /** `GET /v2/` once, to learn whether and how the registry wants auth. */
  private ping(): Promise<void> {
    this.pinged ??= (async () => {
      const url = new URL('/v2/', this.origin);
      const what = describeRequest('GET', url);
      const response = await this.dispatch(url, 'GET', this.baseHeaders(), undefined, what);
      if (response.statusCode === 200 || response.statusCode === 401) {
        this.answered = true;
        if (response.statusCode === 401) this.auth.learn(response.headers['www-authenticate']);
        await response.body.dump();
        return;
      }
      throw this.refused(what, response, await readErrorBody(response.body));
    })();
    this.pinged.catch(() => (this.pinged = undefined));
    return this.pinged;
  }

  /** One logical request: follows redirects of GET and HEAD, sending Authorization only to the registry's origin. */
  private async send(request: RegistryRequest, start: URL, what: string, authorization: string | undefined): Promise<RegistryResponse> {
    let url = start;
    for (let hop = 0; ; hop++) {
      const headers = { ...this.baseHeaders(), ...request.headers };
      if (authorization !== undefined && url.origin === this.origin) headers.authorization = authorization;
      const response = await this.dispatch(url, request.method, headers, request.body, what, request.retryBroken);
      const follow = REDIRECTS.has(response.statusCode) && (request.method === 'GET' || request.method === 'HEAD');
      if (!follow) return response;
      const location = response.headers.location;
      await response.body.dump();
      if (typeof location !== 'string' || location === '') {
        throw new RegistryError(`${what}: ${response.statusCode} redirect without a Location`, response.statusCode);
      }
      if (hop >= MAX_REDIRECTS) throw new RegistryError(`${what}: more than ${MAX_REDIRECTS} redirects`, response.statusCode);
      url = new URL(location, url);
    }
  }

  /**
   * One HTTP exchange, tried again on 429, 5xx (not 501) and failed or broken connections while the body allows it
   * (broken ones only with `retryBroken`).
   */
  private async dispatch(
    url: URL,
    method: Method,
    headers: Record<string, string>,
    body: RequestBody | undefined,
    what: string,
    retryBroken = true,
  ): Promise<RegistryResponse> {
    const dispatcher: Dispatcher = url.origin === this.origin ? this.pool : this.foreign;
    const canRetry = replayable(body);
    for (let attempt = 1; ; attempt++) {
      let response: RegistryResponse;
      try {
        // undici puts a connection back to use a full turn of the event loop after its response ended: a request
        // sent sooner (the next of a sequence: a HEAD, then a GET) opens a new connection, its handshakes included.
        await nextTurn();
        response = await request(dispatcher, {
          origin: url.origin,
          path: url.pathname + url.search,
          method,
          headers,
          body: sendable(body),
          highWaterMark: BODY_BUFFER_BYTES,
          // undici closes the connection after a HEAD unless told not to, in case the server sends a body after all;
          // registries answer HEAD as HTTP says, and every artifact's resolve and every blob probe is a HEAD.
          ...(method === 'HEAD' ? { reset: false } : {}),
        });
      } catch (error) {
        const retryable = isTransientError(error) && (retryBroken || brokenConnectionCode(error) === undefined);
        if (canRetry && attempt < this.retry.attempts && retryable) {
          await waitBeforeRetry(this.retry, {
            what,
            attempt,
            delayMs: retryDelayMs(this.retry, attempt, undefined),
            reason: this.describe(error),
          });
          continue;
        }
        const tries = attempt > 1 ? ` (after ${attempt} attempts)` : '';
        const hop = what.endsWith(describeRequest(method, url)) ? '' : ` → ${describeRequest(method, url)}`;
        throw new Error(`${what}${hop}: ${this.describe(error)}${tries}`, { cause: error });
      }
      if (canRetry && attempt < this.retry.attempts && isRetryableStatus(response.statusCode)) {
        const delayMs = retryDelayMs(this.retry, attempt, retryAfterMs(response.headers['retry-after']));
        await response.body.dump();
        await waitBeforeRetry(this.retry, { what, attempt, delayMs, reason: `${response.statusCode} ${response.statusText}` });
        continue;
      }
      return response;
    }
  }

  private async tokenExchange(request: Parameters<TokenHttp>[0]): ReturnType<TokenHttp> {
    const what = describeRequest(request.method, request.url);
    const response = await this.dispatch(request.url, request.method, { ...this.baseHeaders(), ...request.headers }, request.body, what);
    const text = await readCapped(
      response.body,
      TOKEN_RESPONSE_LIMIT,
      () => new RegistryError(`${what}: token answer over ${TOKEN_RESPONSE_LIMIT} bytes`, response.statusCode),
    );
    return { status: response.statusCode, statusText: response.statusText, text: text.toString('utf8') };
  }

  /**
   * An unexpected status as an error. Until the registry has answered once as one (a success, or the ping's challenge),
   * an answer without distribution error codes asks whether it is one: a web server at that address answers so.
   */
  private refused(what: string, response: RegistryResponse, body: ErrorBody): RegistryError {
    const doubt = !this.answered && body.codes.length === 0 ? ` (is ${this.registry} an OCI registry?)` : '';
    return new RegistryError(statusMessage(what, response.statusCode, response.statusText, body) + doubt, response.statusCode, body.codes);
  }

  private async unauthorized(what: string, status: number, body: { codes: string[]; text: string }): Promise<UnauthorizedError> {
    const said = body.text ? `: ${body.text}` : '';
    return new UnauthorizedError(
      `${what}: ${status} unauthorized: authentication required for ${this.registry}${said} ` +
        `(tried ${await this.auth.identity()}; check docker login / credentials)`,
      status,
      body.codes,
    );
  }

  private baseHeaders(): Record<string, string> {
    return { 'user-agent': this.userAgent };
  }
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}

function replayable(body: RequestBody | undefined): boolean {
  return body === undefined || body instanceof Uint8Array || isBufferList(body);
}

/** What undici sends: buffers in order as a fresh stream over them, at each attempt. */
function sendable(body: RequestBody | undefined): Uint8Array | Readable | null {
  if (body === undefined) return null;
  return isBufferList(body) ? Readable.from(body, { objectMode: false }) : body;
}

function isBufferList(body: RequestBody): body is readonly Uint8Array[] {
  return Array.isArray(body);
}
