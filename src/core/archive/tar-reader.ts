import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { pipeline as pipe, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as createExtract, type Header } from 'tar-stream';
import { decompressor, detectCompression, type Compression } from './compression.ts';
import { VerifyingStream } from '../oci/digest.ts';
import { fileHasher } from './file-hasher.ts';

/** One entry of a tar, its name cleaned as ace-dt's lenient reader does (no `./`, no trailing `/`). */
export interface TarEntry {
  name: string;
  type: string;
  size: number;
  /** `sha256:<hex>` for an entry named `blobs/sha256/<hex>`: what its content must hash to. */
  digest: string | undefined;
}

/**
 * Called for each entry in order; the next entry waits for the returned promise. `body` streams the entry's
 * bytes; a blob's body fails at its end with a DigestMismatchError when the content does not hash to its name.
 * Whatever the visitor leaves unread is read (and checked) after it returns.
 */
export type EntryVisitor = (entry: TarEntry, body: Readable) => Promise<void>;

/** The file as stored (`bytes`, `sha256`: what its sidecar describes) and the tar stream inside it. */
export interface TarFile {
  compression: Compression;
  bytes: number;
  sha256: string;
  tarBytes: number;
}

export interface ReadOptions {
  /** Hash the whole file for its sidecar (default true); a second pass over a checked file skips it. */
  hashFile?: boolean;
}

/** The tar could not be read to its end: truncated, not a tar, bad compression, or a visitor failed. */
export class TarReadError extends Error {
  constructor(path: string, entry: string | undefined, cause: unknown) {
    const where = entry === undefined ? path : `${path}: entry ${entry}`;
    super(`${where}: ${describe(cause)}`, { cause });
    this.name = 'TarReadError';
  }
}

const READ_CHUNK = 1024 * 1024;
const BLOCK = 512;
const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;

/**
 * Streams a tar file (plain, gzip or zstd, told by its magic bytes) entry by entry, hashing the file as stored
 * and every blob against its name in the same pass, with nothing held whole in memory.
 */
export async function readTarFile(path: string, visit: EntryVisitor, options: ReadOptions = {}): Promise<TarFile> {
  const compression = detectCompression(await readHead(path));
  const hasher = options.hashFile === false ? undefined : fileHasher((await stat(path)).size);
  const tap = new CountingStream((chunk) => hasher?.update(chunk));
  const inner = new CountingStream();
  const unpack = decompressor(compression);
  const reader = createExtract();
  const source = createReadStream(path, { highWaterMark: READ_CHUNK });
  const flowing = unpack ? pipeline(source, tap, unpack, inner, reader) : pipeline(source, tap, inner, reader);
  flowing.catch(() => undefined); // awaited below; the entry loop sees the same failure first

  let current: string | undefined;
  let end = 0;
  try {
    for await (const stream of reader) {
      const entry = describeEntry(stream.header);
      current = entry.name;
      end = alignToBlock(stream.offset + BLOCK + entry.size);
      const body = entryBody(stream as AsyncIterable<Buffer>, entry);
      await visit(entry, body);
      if (!body.readableEnded && !body.destroyed) for await (const _ of body);
      current = undefined;
    }
    await flowing;
    // Two zero blocks close a tar; without them the file ended early at an entry boundary.
    if (inner.bytes < end + 2 * BLOCK)
      throw new Error(`the tar ends after ${inner.bytes} bytes without its end-of-archive blocks (truncated?)`);
  } catch (error) {
    reader.destroy();
    source.destroy();
    hasher?.close();
    throw error instanceof TarReadError ? error : new TarReadError(path, current, error);
  }
  return { compression, bytes: tap.bytes, sha256: hasher ? await hasher.digest() : '', tarBytes: inner.bytes };
}

async function readHead(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function describeEntry(header: Header): TarEntry {
  const name = header.name.replace(/^(?:\.\/)+/, '').replace(/\/+$/, '');
  const type = header.type ?? 'file';
  const size = header.size ?? 0;
  const blob = type === 'file' || type === 'contiguous-file' ? BLOB_NAME.exec(name) : null;
  return { name, type, size, digest: blob ? `sha256:${blob[1]}` : undefined };
}

/** A blob's body is checked against its name as it streams; a failure reaches whoever reads it. */
function entryBody(bytes: AsyncIterable<Buffer>, entry: TarEntry): Readable {
  const body = Readable.from(bytes, { objectMode: false });
  if (entry.digest === undefined) return body;
  return pipe(body, new VerifyingStream(`blob ${entry.digest}`, { digest: entry.digest, size: entry.size }), () => undefined);
}

function alignToBlock(offset: number): number {
  return Math.ceil(offset / BLOCK) * BLOCK;
}

type Seer = (chunk: Buffer) => Promise<void> | void;

/** Passes bytes through, counting them and showing each chunk to `see` (waiting when it asks to). */
class CountingStream extends Transform {
  bytes = 0;
  private readonly see: Seer | undefined;

  constructor(see?: Seer) {
    super({ highWaterMark: READ_CHUNK });
    this.see = see;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.byteLength;
    const seen = this.see?.(chunk);
    if (seen === undefined) done(null, chunk);
    else seen.then(() => done(null, chunk), done);
  }
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (message === 'Unexpected end of data' || code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(message)) {
    return `${message} (the file is truncated)`;
  }
  return message;
}
