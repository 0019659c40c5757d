/**
 * Twirp over JSON as the Results service speaks it: POST /twirp/<service>/<method>, a JSON body with proto field
 * names (the clients send `useProtoFieldName`, omitting default values), errors as `{code, msg}` with the HTTP
 * status twirp assigns to the code.
 */
import type { ServerResponse } from 'node:http';
import { sendJson } from './http.ts';

const statusOfCode = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 412,
  resource_exhausted: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type TwirpCode = keyof typeof statusOfCode;

export class TwirpError extends Error {
  readonly code: TwirpCode;
  /** Extra response headers, such as the Retry-After of a rate limit. */
  readonly headers: Record<string, string>;

  constructor(code: TwirpCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.code = code;
    this.headers = headers;
  }

  get status(): number {
    return statusOfCode[this.code];
  }
}

/** The twirp code a fault given as an HTTP status is reported with. */
export function codeForStatus(status: number): TwirpCode {
  const found = (Object.entries(statusOfCode) as [TwirpCode, number][]).find(([, s]) => s === status);
  if (found === undefined) throw new Error(`no twirp code answers with HTTP ${status}`);
  return found[0];
}

export function sendTwirpError(res: ServerResponse, error: TwirpError): void {
  sendJson(res, error.status, { code: error.code, msg: error.message }, error.headers);
}

export type Message = Record<string, unknown>;

export function parseMessage(bytes: Buffer): Message {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new TwirpError('invalid_argument', 'request body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new TwirpError('invalid_argument', 'request body is not a JSON object');
  return value as Message;
}

/** A string field (or a google.protobuf.StringValue, which JSON writes as a bare string); '' when omitted. */
export function stringField(message: Message, name: string): string {
  const value = message[name];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new TwirpError('invalid_argument', `${name} must be a string`);
  return value;
}

/** An int64 field (JSON writes it as a decimal string, sometimes a number); undefined when omitted. */
export function int64Field(message: Message, name: string): number | undefined {
  const value = message[name];
  if (value === undefined || value === null) return undefined;
  const parsed = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(parsed)) throw new TwirpError('invalid_argument', `${name} must be an int64`);
  return parsed;
}

export function stringListField(message: Message, name: string): string[] {
  const value = message[name];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw new TwirpError('invalid_argument', `${name} must be a list of strings`);
  return value as string[];
}
