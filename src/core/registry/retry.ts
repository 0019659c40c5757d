import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  /** Tries in all, the first included. Default 5. */
  attempts?: number;
  /** First backoff; doubled each try, with jitter. Default 500 ms. */
  baseDelayMs?: number;
  /** Cap on any wait, `Retry-After` included. Default 30 s. */
  maxDelayMs?: number;
  /** Told before each wait: for logs (and tests). */
  onRetry?: (event: RetryEvent) => void;
}

export interface RetryEvent {
  /** `GET https://host/v2/...` */
  what: string;
  /** The try that failed, from 1. */
  attempt: number;
  delayMs: number;
  /** `503 Service Unavailable`, `ECONNRESET ...` */
  reason: string;
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  onRetry: ((event: RetryEvent) => void) | undefined;
}

export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  return {
    attempts: Math.max(1, options.attempts ?? 5),
    baseDelayMs: options.baseDelayMs ?? 500,
    maxDelayMs: options.maxDelayMs ?? 30_000,
    onRetry: options.onRetry,
  };
}

/** 429 and server errors, except 501 (the server will never do it). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599 && status !== 501);
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * A connection that ended under a request: reset (ECONNRESET), closed by the other side (undici's "other side
 * closed", UND_ERR_SOCKET) or written to after either (EPIPE). A proxy that limits request bodies may end one so
 * instead of answering 413.
 */
const BROKEN_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'UND_ERR_SOCKET']);

/** The code (`ECONNRESET`, `UND_ERR_SOCKET`, ...) of a connection that broke under the request, if that is what failed. */
export function brokenConnectionCode(error: unknown): string | undefined {
  return errorCode(error, (c) => BROKEN_CODES.has(c));
}

/** A connection that failed or broke: worth another try. TLS and DNS-name errors are not. */
export function isTransientError(error: unknown): boolean {
  const code = errorCode(error, (c) => TRANSIENT_CODES.has(c));
  return code !== undefined;
}

/** The first `code` (`ECONNRESET`, `UND_ERR_SOCKET`, ...) on the error or its causes that `wanted` accepts. */
export function errorCode(error: unknown, wanted: (code: string) => boolean = () => true): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && wanted(code)) return code;
  }
  return undefined;
}

/** `Retry-After` as seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Exponential backoff with jitter (half fixed, half random), or what the server asked for; both capped. */
export function retryDelayMs(policy: RetryPolicy, attempt: number, retryAfter: number | undefined): number {
  if (retryAfter !== undefined) return Math.min(policy.maxDelayMs, retryAfter);
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exponential / 2 + (Math.random() * exponential) / 2);
}

export async function waitBeforeRetry(policy: RetryPolicy, event: RetryEvent): Promise<void> {
  policy.onRetry?.(event);
  await sleep(event.delayMs);
}

export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const cause = error.cause instanceof Error && error.cause.message !== error.message ? `: ${error.cause.message}` : '';
  return `${error.message}${typeof code === 'string' && !error.message.includes(code) ? ` (${code})` : ''}${cause}`;
}
