/**
 * Range requests for blobs (RFC 9110, "Range Requests"; distribution serves them, and so do the blob stores registries
 * redirect to). Ranges are always bounded, `bytes=START-END`: an open-ended one makes object stores stream the whole
 * rest of the blob for every piece (containerd #12476). An answer is trusted only as a 206 whose Content-Range runs to
 * exactly the END asked for, of a blob of the descriptor's size (its length agreeing when it gives one); a server that
 * ignores Range (200, the whole blob) or answers a 206 without a usable Content-Range is told apart, so the caller
 * falls back to one stream rather than mistaking bytes (containerd #12291).
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.ts';
import { discard } from '../streams.ts';
import { checkLength } from './content-length.ts';
import { header } from './headers.ts';
import type { Transport } from './transport.ts';

/** One blob of one repository, as requests go for it. */
export interface BlobTarget {
  descriptor: Descriptor;
  /** `blob localhost:5000/tools@sha256:… for 000002-tools.tar`: what failures name. */
  what: string;
  path: string;
  scopes: readonly string[];
  /** The tar it is for: failures of the request itself are then prefixed with `what` (they name the URL already). */
  context?: string;
}

/** How a server answered `Range: bytes=START-END`. */
export type RangeAnswer =
  /** A 206 from `start` (START or before it) to exactly END. */
  | { kind: 'range'; start: number; body: Readable }
  /** A 200: the whole blob from its first byte, its Content-Length checked. */
  | { kind: 'whole'; body: Readable }
  /** A 206 that says nothing we can use about which bytes it holds; its body is dropped. */
  | { kind: 'unusable'; contentRange: string | undefined };

/** Asks for blob bytes `start` to `end` (inclusive), through the registry's redirects as any GET goes. */
export async function requestRange(transport: Transport, target: BlobTarget, start: number, end: number): Promise<RangeAnswer> {
  const response = await named(
    target,
    transport.request({
      method: 'GET',
      path: target.path,
      scopes: target.scopes,
      expect: [200, 206],
      headers: { range: `bytes=${start}-${end}` },
    }),
  );
  if (response.statusCode === 200) {
    checkLength(target.what, response, target.descriptor);
    return { kind: 'whole', body: response.body };
  }
  const contentRange = header(response, 'content-range');
  const range = parseContentRange(contentRange);
  const length = header(response, 'content-length');
  const usable =
    range !== undefined &&
    range.start <= start &&
    range.end === end &&
    (range.total === undefined || range.total === target.descriptor.size) &&
    (length === undefined || Number(length) === end - range.start + 1);
  if (usable) return { kind: 'range', start: range.start, body: response.body };
  discard(response.body);
  return { kind: 'unusable', contentRange };
}

/** A plain GET of the whole blob (200, its Content-Length checked). */
export async function requestWhole(transport: Transport, target: BlobTarget): Promise<Readable> {
  const response = await named(target, transport.request({ method: 'GET', path: target.path, scopes: target.scopes, expect: [200] }));
  checkLength(target.what, response, target.descriptor);
  return response.body;
}

/** `bytes START-END/TOTAL` (TOTAL may be `*`); undefined for anything else. */
function parseContentRange(value: string | undefined): { start: number; end: number; total: number | undefined } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '');
  if (match === null) return undefined;
  const [start, end] = [Number(match[1]), Number(match[2])];
  if (end < start) return undefined;
  return { start, end, total: match[3] === '*' ? undefined : Number(match[3]) };
}

/** A request for a tar's blob that fails names the blob (and so the tar) before the request. */
async function named<T>(target: BlobTarget, request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (error) {
    if (target.context !== undefined && error instanceof Error) error.message = `${target.what}: ${error.message}`;
    throw error;
  }
}
