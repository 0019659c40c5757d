import type { Readable } from 'node:stream';
import { discard } from '../streams.ts';

/** A registry answered with a status we did not expect; the message carries the distribution error codes. */
export class RegistryError extends Error {
  readonly status: number;
  /** Distribution error codes from the body: `MANIFEST_UNKNOWN`, `DENIED`, ... */
  readonly codes: string[];

  constructor(message: string, status: number, codes: string[] = []) {
    super(message);
    this.name = 'RegistryError';
    this.status = status;
    this.codes = codes;
  }
}

export class UnauthorizedError extends RegistryError {
  constructor(message: string, status = 401, codes: string[] = []) {
    super(message, status, codes);
    this.name = 'UnauthorizedError';
  }
}

/** `GET https://host/v2/repo/blobs/uploads/…`: a URL for messages, without its query (signed URLs and upload state). */
export function describeRequest(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}${url.search ? '?…' : ''}`;
}

const ERROR_BODY_LIMIT = 64 * 1024;

export interface ErrorBody {
  codes: string[];
  /** `MANIFEST_UNKNOWN manifest unknown; ...`, or the start of a non-JSON body; '' when there is none. */
  text: string;
}

/** Reads (a bounded part of) an error response body and always finishes with the stream. */
export async function readErrorBody(body: Readable): Promise<ErrorBody> {
  body.on('error', () => undefined);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total >= ERROR_BODY_LIMIT) break;
    }
  } catch {
    // The status already says what failed; a broken error body adds nothing.
  } finally {
    discard(body);
  }
  return parseErrorBody(Buffer.concat(chunks).toString('utf8').slice(0, ERROR_BODY_LIMIT));
}

interface DistributionErrors {
  errors?: Array<{ code?: unknown; message?: unknown; detail?: unknown }>;
}

function parseErrorBody(text: string): ErrorBody {
  const trimmed = text.trim();
  if (trimmed === '') return { codes: [], text: '' };
  try {
    const parsed = JSON.parse(trimmed) as DistributionErrors;
    if (Array.isArray(parsed.errors) && parsed.errors.length > 0) {
      const codes = parsed.errors.map((e) => String(e.code ?? 'UNKNOWN'));
      const parts = parsed.errors.map((e) => {
        const detail = e.detail === undefined || e.detail === null ? '' : ` (${oneLine(JSON.stringify(e.detail), 200)})`;
        return `${String(e.code ?? 'UNKNOWN')} ${String(e.message ?? '')}`.trim() + detail;
      });
      return { codes, text: parts.join('; ') };
    }
  } catch {
    // Not JSON: quote the start of it.
  }
  return { codes: [], text: oneLine(trimmed, 300) };
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? flat.slice(0, max) + '…' : flat;
}

/** `GET https://host/v2/r/manifests/t: 404 MANIFEST_UNKNOWN manifest unknown` */
export function statusMessage(what: string, status: number, statusText: string, body: ErrorBody): string {
  return `${what}: ${status} ${body.text || statusText || 'no details'}`;
}
