/**
 * A blob's bytes into an upload session the registry opened (distribution spec, "Pushing blobs"): one PUT ?digest=
 * with the whole blob, or chunks (PATCH with Content-Range and Content-Length, each to the Location the last answer
 * gave) closed by an empty PUT ?digest=. Content goes whole, a stream too (nothing of it held but its first bytes,
 * so that the reader it comes from runs while the registry takes it), until a registry or its proxy finds a body too
 * big: it answers 413, or (a load balancer, an nginx closing early) resets or closes the connection while the body
 * goes. Then in chunks for the rest of the run: halved at each 413; after a broken connection, of half the body cut
 * (at most CHUNK_BYTES), and halved again whenever a chunk's connection breaks. A broken chunk is not sent again into
 * its session: the registry may keep what it read of it (distribution does, and then refuses the session's next
 * chunk with 416), so the blob starts over in a fresh session. A stream's chunks are held in memory, each until the
 * next is asked for (a chunk held can be sent again, a whole stream cannot; nor can a stream start over once its
 * first chunk went). A registry that refuses chunks gets blobs whole.
 */
import { Readable } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.ts';
import type { BlobContent } from '../oci/storage.ts';
import { RegistryError } from './errors.ts';
import { header } from './headers.ts';
import { brokenConnectionCode } from './retry.ts';
import type { RegistryResponse, RequestBody, Transport } from './transport.ts';

/**
 * Once a registry refused a body as too big, a stream goes in chunks of at most this size, each held in memory until
 * the next. Whole-blob PUTs cost the loopback registry less CPU than chunks do (16 MiB chunks: a quarter more, 256 MiB
 * in 1.27 s against 1.02 s), and a stream sent whole keeps no chunk waiting for the registry's answer.
 */
export const CHUNK_BYTES = 16 * 1024 * 1024;
/**
 * A stream sent whole keeps its first bytes until this many went: a proxy that refuses a body by its Content-Length
 * (nginx's client_max_body_size) answers 413, or ends the connection, before more than its socket buffers took, and
 * the stream then goes in chunks from its start. A later refusal leaves the stream spent (BodyRefusedError).
 */
export const REFUSAL_KEPT_BYTES = 8 * 1024 * 1024;
/** Halving a refused chunk stops here: a proxy that refuses this much refuses uploads. */
const SMALLEST_CHUNK_BYTES = 64 * 1024;
/** What a registry answers to a first PATCH it does not take, when it takes whole-blob PUTs only. */
const CHUNKS_REFUSED = new Set([400, 404, 405, 416, 501]);
const TOO_BIG = 413;

/** What a registry taught us about its request bodies, for its later blobs; kept per transport. */
interface BodyLimits {
  /** Since a 413: the chunk size it took last (or that comes next). */
  chunkBytes: number | undefined;
  chunksRefused: boolean;
}
const limitsOf = new WeakMap<Transport, BodyLimits>();

/** An open upload session: where to send, and the registry's OCI-Chunk-Min-Length (0 when it names none). */
export interface UploadSession {
  location: URL;
  minChunkBytes: number;
}

export interface BlobUpload {
  transport: Transport;
  descriptor: Descriptor;
  /** `upload of HOST/REPO@sha256:…`: what failures name. */
  what: string;
  scopes: readonly string[];
  /** A fresh session, when the first cannot go on (a whole-blob PUT after refused chunks, or chunks after a refused PUT). */
  restart(): Promise<UploadSession>;
}

/** The session's answer to POST /blobs/uploads/ (202): where to send the bytes. */
export function sessionOf(response: RegistryResponse, transport: Transport, what: string): UploadSession {
  const location = header(response, 'location');
  if (location === undefined) throw new RegistryError(`${what}: ${response.statusCode} without a Location`, response.statusCode);
  const min = Number(header(response, 'oci-chunk-min-length') ?? 0);
  return { location: new URL(location, transport.origin), minChunkBytes: Number.isSafeInteger(min) && min > 0 ? min : 0 };
}

/**
 * A stream was refused (413, or its connection broke) once more of it went than it keeps: sent whole, after more than
 * REFUSAL_KEPT_BYTES; in chunks, in a chunk after its first. It cannot be sent again, its source can (the registry's
 * limit is learned: it goes in chunks, or in smaller ones).
 */
export class BodyRefusedError extends Error {
  /** `went`: how much of the stream had gone, `after more than 8388608 bytes of the stream went` */
  constructor(what: string, refusal: Refusal, went: string) {
    super(`${what}: ${refusal.said} ${went}: send it again`, { cause: refusal.error });
    this.name = 'BodyRefusedError';
  }
}

/** How a body-sized request was refused: a 413, or a connection that broke under it (`broken` names how). */
interface Refusal {
  error: unknown;
  broken: string | undefined;
  /** `refused as too big (413)`, `the connection broke (ECONNRESET)` */
  said: string;
}

/** The refusal `error` is, undefined when it is another failure. */
function refusalOf(error: unknown): Refusal | undefined {
  if (isTooBig(error)) return { error, broken: undefined, said: 'refused as too big (413)' };
  const broken = brokenConnectionCode(error);
  return broken === undefined ? undefined : { error, broken, said: `the connection broke (${broken})` };
}

/** After a refusal of `size` bytes: chunks of half as many, and after a broken connection at most CHUNK_BYTES. */
function chunksAfter(refusal: Refusal, size: number): number {
  const half = Math.max(SMALLEST_CHUNK_BYTES, Math.ceil(size / 2));
  return refusal.broken === undefined ? half : Math.max(SMALLEST_CHUNK_BYTES, Math.min(CHUNK_BYTES, half));
}

/** Sends the blob's bytes into `session` and closes it with the digest; the registry checks the bytes against it. */
export async function sendBlob(upload: BlobUpload, session: UploadSession, content: BlobContent): Promise<void> {
  const limits = bodyLimits(upload.transport);
  const { size } = upload.descriptor;
  const pieces = piecesOf(content, size, upload.what);
  const chunk = chunkSize(limits, session, pieces);
  if (pieces instanceof StreamPieces && size > chunk && limits.chunkBytes === undefined) return sendStream(upload, session, pieces, limits);
  if (size > chunk && !limits.chunksRefused) return sendChunks(upload, session, pieces, limits);
  if (size > chunk) return put(upload, session.location, pieces.whole(), size);
  // A small body's broken connection is no refusal, nor one where chunks cannot follow: tried again as any other.
  const final = size <= SMALLEST_CHUNK_BYTES || limits.chunksRefused;
  try {
    return await put(upload, session.location, await pieces.piece(0, size), size, final);
  } catch (error) {
    const refusal = refusalOf(error);
    if (refusal === undefined || final) throw error;
    limits.chunkBytes = chunksAfter(refusal, size);
    return inChunksAfter(refusal, upload, pieces, limits);
  }
}

/** A big stream whole; refused early, in chunks from its start (what it kept), else a BodyRefusedError. */
async function sendStream(upload: BlobUpload, session: UploadSession, pieces: StreamPieces, limits: BodyLimits): Promise<void> {
  const { size } = upload.descriptor;
  try {
    return await put(upload, session.location, pieces.whole(REFUSAL_KEPT_BYTES), size);
  } catch (error) {
    const refusal = refusalOf(error);
    if (refusal === undefined || limits.chunksRefused) throw error;
    limits.chunkBytes ??= Math.min(CHUNK_BYTES, chunksAfter(refusal, size));
    if (!pieces.rewound())
      throw new BodyRefusedError(upload.what, refusal, `after more than ${REFUSAL_KEPT_BYTES} bytes of the stream went`);
    return inChunksAfter(refusal, upload, pieces, limits);
  }
}

/**
 * The blob again, in chunks in a fresh session (the refused one may hold part of the body), after its whole-blob
 * request was refused. A failure in chunks after a broken connection says both (a broken chunk says so itself).
 */
async function inChunksAfter(refusal: Refusal, upload: BlobUpload, pieces: Pieces, limits: BodyLimits): Promise<void> {
  try {
    return await sendChunks(upload, await upload.restart(), pieces, limits);
  } catch (error) {
    if (refusal.broken === undefined || brokenConnectionCode(error) !== undefined) throw error;
    const why = `the connection broke while the blob went in one request (${refusal.broken}), then in chunks`;
    throw new Error(`${upload.what}: ${why}: ${messageOf(error)}`, { cause: error });
  }
}

async function sendChunks(upload: BlobUpload, first: UploadSession, pieces: Pieces, limits: BodyLimits): Promise<void> {
  const { size } = upload.descriptor;
  let session = first;
  let location = session.location;
  for (let offset = 0; offset < size;) {
    const end = Math.min(size, offset + chunkSize(limits, session, pieces));
    let answer: RegistryResponse;
    try {
      answer = await upload.transport.request({
        method: 'PATCH',
        path: location.href,
        scopes: upload.scopes,
        expect: [202],
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(end - offset),
          'content-range': `${offset}-${end - 1}`,
        },
        body: await pieces.piece(offset, end),
        retryBroken: false, // into the same session it would meet what the registry kept of it
      });
    } catch (error) {
      const refusal = refusalOf(error);
      const smallest = end - offset <= Math.max(SMALLEST_CHUNK_BYTES, session.minChunkBytes);
      if (refusal !== undefined && !smallest) {
        limits.chunkBytes = Math.max(SMALLEST_CHUNK_BYTES, Math.ceil((end - offset) / 2));
        if (refusal.broken === undefined) continue; // the same bytes again, in a smaller chunk: a 413 left the session as it was
        if (!pieces.rewound()) throw new BodyRefusedError(upload.what, refusal, `in a chunk from byte ${offset}`);
        session = await upload.restart();
        location = session.location;
        offset = 0;
        continue;
      }
      // A proxy's limit under the smallest chunk and a registry whose connections keep breaking look alike from here.
      if (refusal?.broken !== undefined) {
        const why = `the connection broke (${refusal.broken}) under chunks down to ${end - offset} bytes`;
        throw new Error(`${upload.what}: ${why}: ${messageOf(error)}`, { cause: error });
      }
      if (offset === 0 && error instanceof RegistryError && CHUNKS_REFUSED.has(error.status)) {
        limits.chunksRefused = true;
        return put(upload, (await upload.restart()).location, pieces.whole(), size);
      }
      throw error;
    }
    await answer.body.dump();
    const range = header(answer, 'range');
    if (range !== undefined && !new RegExp(`^(bytes=)?0-${end - 1}$`).test(range))
      throw new RegistryError(`${upload.what}: sent bytes 0-${end - 1}, the registry holds ${range}`, answer.statusCode);
    location = new URL(header(answer, 'location') ?? location.href, upload.transport.origin);
    offset = end;
  }
  await put(upload, location, new Uint8Array(0), 0);
}

/**
 * The closing PUT ?digest=, with the whole blob or (after chunks) nothing; `retryBroken` false when a broken
 * connection is better answered by chunks than by the same request again.
 */
async function put(upload: BlobUpload, location: URL, body: RequestBody, length: number, retryBroken = true): Promise<void> {
  const target = new URL(location);
  target.searchParams.set('digest', upload.descriptor.digest);
  const done = await upload.transport.request({
    method: 'PUT',
    path: target.href,
    scopes: upload.scopes,
    expect: [201],
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(length) },
    body,
    retryBroken,
  });
  await done.body.dump();
}

function bodyLimits(transport: Transport): BodyLimits {
  let limits = limitsOf.get(transport);
  if (limits === undefined) limitsOf.set(transport, (limits = { chunkBytes: undefined, chunksRefused: false }));
  return limits;
}

/**
 * What goes in one request: what the registry took last, else a chunk for a stream (a stream's pieces are held) and
 * everything for the rest.
 */
function chunkSize(limits: BodyLimits, session: UploadSession, pieces: Pieces): number {
  return Math.max(limits.chunkBytes ?? (pieces.held ? CHUNK_BYTES : Number.POSITIVE_INFINITY), session.minChunkBytes);
}

function isTooBig(error: unknown): boolean {
  return error instanceof RegistryError && error.status === TOO_BIG;
}

/** A blob's content as request bodies. */
interface Pieces {
  /** Bytes `start` to `end`: a piece from where the last accepted one ended, or the last one asked for, again or shorter. */
  piece(start: number, end: number): Promise<RequestBody>;
  /** The whole blob, once, before any piece was asked for. */
  whole(): Uint8Array | Readable;
  /** Whether pieces are held in memory (a stream's are): they are kept small. */
  held: boolean;
  /** Whether pieces can start again from the first byte. */
  rewound(): boolean;
}

function piecesOf(content: BlobContent, size: number, what: string): Pieces {
  if (content instanceof Uint8Array)
    return { piece: async (start, end) => content.subarray(start, end), whole: () => content, held: false, rewound: () => true };
  if (typeof content === 'function')
    return { piece: async (start, end) => content(start, end), whole: () => content(0, size), held: false, rewound: () => true };
  return new StreamPieces(content, size, what);
}

/**
 * A stream cut into pieces, each held in memory until a later one is asked for, so that a refused piece can be sent
 * again (whole or in halves); `whole()` gives what is held and then the rest of the stream, keeping its first bytes.
 */
class StreamPieces implements Pieces {
  readonly held = true;
  private readonly source: AsyncIterator<Buffer>;
  private readonly size: number;
  private readonly what: string;
  /** Read and not passed on yet, in order: bytes from `keptFrom` (the last piece asked for, and what came after it). */
  private kept: Buffer[] = [];
  private keptFrom = 0;
  /** Bytes went whole and were not all kept: no piece can be asked for. */
  private spent = false;

  constructor(stream: Readable, size: number, what: string) {
    this.source = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    this.size = size;
    this.what = what;
  }

  /**
   * The piece as the buffers held (no copy: a 16 MiB buffer per piece kept the collector busy), which a refused
   * request can send again.
   */
  async piece(start: number, end: number): Promise<Buffer[]> {
    if (start < this.keptFrom || this.spent) throw new Error(`${this.what}: bytes from ${start} on were passed on already`);
    this.drop(start - this.keptFrom);
    const wanted = end - start;
    let bytes = this.kept.reduce((sum, buffer) => sum + buffer.byteLength, 0);
    while (bytes < wanted) {
      const next = await this.source.next();
      if (next.done === true) throw new Error(`${this.what}: the content ended after ${start + bytes} of ${this.size} bytes`);
      this.kept.push(next.value);
      bytes += next.value.byteLength;
    }
    const piece: Buffer[] = [];
    for (let i = 0, left = wanted; left > 0; i++) {
      const buffer = this.kept[i] as Buffer;
      piece.push(buffer.byteLength > left ? buffer.subarray(0, left) : buffer);
      left -= Math.min(left, buffer.byteLength);
    }
    return piece;
  }

  /**
   * The whole content, once; while no more than `keepBytes` of it went, what went stays kept (`rewound()`). Read by
   * hand, so that the consumer giving up on it (an early answer) leaves the source open and nothing it read lost.
   */
  whole(keepBytes = 0): Readable {
    if (this.keptFrom !== 0 || this.spent) throw new Error(`${this.what}: part of the content was sent already`);
    return Readable.from(this.wholeChunks(keepBytes), { objectMode: false });
  }

  private async *wholeChunks(keepBytes: number): AsyncGenerator<Buffer> {
    const first = [...this.kept];
    let keptBytes = first.reduce((sum, buffer) => sum + buffer.byteLength, 0);
    let sent = keptBytes;
    yield* first;
    for (let next = await this.source.next(); next.done !== true; next = await this.source.next()) {
      if (!this.spent && keptBytes + next.value.byteLength <= keepBytes) {
        this.kept.push(next.value);
        keptBytes += next.value.byteLength;
      } else {
        this.spent = true;
        this.kept = [];
      }
      sent += next.value.byteLength;
      yield next.value;
    }
    if (sent < this.size) throw new Error(`${this.what}: the content ended after ${sent} of ${this.size} bytes`);
  }

  /** Whether no piece after the first was asked for, and everything `whole()` read is still kept. */
  rewound(): boolean {
    return !this.spent && this.keptFrom === 0;
  }

  private drop(count: number): void {
    this.keptFrom += count;
    for (let left = count; left > 0;) {
      const buffer = this.kept.shift();
      if (buffer === undefined) throw new Error(`${this.what}: asked for bytes past those read`);
      if (buffer.byteLength > left) this.kept.unshift(buffer.subarray(left));
      left -= Math.min(left, buffer.byteLength);
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
