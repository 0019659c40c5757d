import { pipeline as pipe, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as createExtract, type Header } from 'tar-stream';
import { decompressor, detectCompression, type Compression } from './compression.ts';
import { VerifyingStream } from '../oci/digest.ts';
import { FileHasher } from './file-hasher.ts';
import { spentBuffers } from '../spent-buffers.ts';
import { TarSource, type PositionalReader, type SourcePart } from './tar-source.ts';

export { fileKind, notRegularFile, NotRegularFileError } from './tar-source.ts';

/** One entry of a tar, its name cleaned as ace-dt's lenient reader does (no `./`, no trailing `/`). */
export interface TarEntry {
  name: string;
  /** The name as the header has it (after pax and GNU long names), for messages. */
  rawName: string;
  /** tar-stream's type (`file`, `directory`, `symlink`, `link`, `fifo`, …); `unknown` for a typeflag it does not know. */
  type: string;
  /** What a symbolic or hard link points at. */
  linkname: string | undefined;
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
  /** A tar read from parts: each part as read, in order (its sidecar line describes it). */
  parts: PartRead[] | undefined;
}

export interface PartRead {
  path: string;
  bytes: number;
  sha256: string;
}

export interface ReadOptions {
  /** Hash the whole file (and each part) for its sidecar (default true); a second pass over a checked file skips it. */
  hashFile?: boolean;
  /** The paths of the parts to read as the tar (docs/formats.md, "File names"), in order; none: the file at `path`. */
  parts?: readonly string[];
}

/** The tar could not be read to its end: truncated, not a tar, bad compression, or a visitor failed. */
export class TarReadError extends Error {
  constructor(path: string, entry: string | undefined, cause: unknown) {
    const where = entry === undefined ? path : `${path}: entry ${entry}`;
    super(`${where}: ${describe(cause)}`, { cause });
    this.name = 'TarReadError';
  }
}

/**
 * Read size of the tar file. Chunks in flight and not yet collected are most of the memory a read uses: 1 MiB reads
 * took deserialize of a plain tar above 128 MiB (bench:far), 256 KiB ones not, for no more time.
 */
const READ_CHUNK = 256 * 1024;
const BLOCK = 512;
const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;

/**
 * Streams a tar file (plain, gzip or zstd, told by its magic bytes) entry by entry, hashing the file as stored
 * and every blob against its name in the same pass, with nothing held whole in memory.
 */
export async function readTarFile(path: string, visit: EntryVisitor, options: ReadOptions = {}): Promise<TarFile> {
  let file: TarSource;
  let compression: Compression;
  try {
    file = await TarSource.open(path, options.parts);
  } catch (error) {
    throw new TarReadError(path, undefined, error);
  }
  try {
    compression = detectCompression(await readHead(file));
  } catch (error) {
    await file.close();
    throw new TarReadError(path, undefined, error);
  }
  const hashing = options.hashFile !== false;
  const hasher = hashing ? new FileHasher() : undefined;
  const partHashes = hashing && (options.parts?.length ?? 0) > 0 ? new PartHashes(file.parts) : undefined;
  const tap = new CountingStream((chunk) => {
    spentBuffers(chunk.byteLength);
    hasher?.update(chunk);
    partHashes?.update(chunk);
  });
  const unpack = decompressor(compression);
  // The decompressor's output is fresh buffers too, spent once read.
  const inner = new CountingStream(unpack === undefined ? undefined : (chunk) => spentBuffers(chunk.byteLength));
  const reader = createExtract();
  const source = file.stream(0, file.size, READ_CHUNK);
  source.once('close', () => void file.close());
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
    throw error instanceof TarReadError ? error : new TarReadError(path, current, error);
  }
  return { compression, bytes: tap.bytes, sha256: hasher ? hasher.digest() : '', tarBytes: inner.bytes, parts: partHashes?.digests() };
}

/**
 * The file as stored hashed, whole and part by part, without reading it as a tar: what `record` checks a shard's
 * parts with before it moves them.
 */
export async function hashTarFile(path: string, parts: readonly string[]): Promise<{ bytes: number; sha256: string; parts: PartRead[] }> {
  const file = await TarSource.open(path, parts);
  const whole = new FileHasher();
  const partHashes = new PartHashes(file.parts);
  try {
    for await (const chunk of file.stream(0, file.size, READ_CHUNK) as AsyncIterable<Buffer>) {
      whole.update(chunk);
      partHashes.update(chunk);
    }
  } finally {
    await file.close();
  }
  return { bytes: file.size, sha256: whole.digest(), parts: partHashes.digests() };
}

/** Each part's SHA-256 as the joined stream passes (chunks never cross parts: TarSource.stream). */
class PartHashes {
  private readonly parts: readonly SourcePart[];
  private readonly hashers: FileHasher[];
  private at = 0;

  constructor(parts: readonly SourcePart[]) {
    this.parts = parts;
    this.hashers = parts.map(() => new FileHasher());
  }

  update(chunk: Buffer): void {
    const index = this.parts.findIndex((part) => this.at < part.start + part.size);
    this.hashers[index]?.update(chunk);
    this.at += chunk.byteLength;
  }

  digests(): PartRead[] {
    return this.parts.map((part, index) => ({ path: part.path, bytes: part.size, sha256: (this.hashers[index] as FileHasher).digest() }));
  }
}

async function readHead(source: PositionalReader): Promise<Uint8Array> {
  const head = Buffer.alloc(4);
  const { bytesRead } = await source.read(head, 0, 4, 0);
  return head.subarray(0, bytesRead);
}

function describeEntry(header: Header): TarEntry {
  const rawName = header.name;
  const name = rawName.replace(/^(?:\.\/)+/, '').replace(/\/+$/, '');
  // tar-stream gives null for a typeflag it does not know (GNU sparse, volume labels, …): not a plain file.
  const type = header.type ?? 'unknown';
  const size = header.size ?? 0;
  const blob = type === 'file' || type === 'contiguous-file' ? BLOB_NAME.exec(name) : null;
  const linkname = header.linkname ?? undefined;
  return { name, rawName, type, linkname, size, digest: blob ? `sha256:${blob[1]}` : undefined };
}

const SPECIAL: Readonly<Record<string, string>> = {
  symlink: 'a symbolic link',
  link: 'a hard link',
  'character-device': 'a character device',
  'block-device': 'a block device',
  fifo: 'a FIFO',
  unknown: 'of a type tar-stream does not know',
};

/**
 * Why an entry has no place in an OCI layout tar, or undefined: a name that is absolute or climbs out with `..`,
 * or anything but a regular file or a directory (links, devices, FIFOs, types tar-stream does not know). No
 * conforming writer (ours, ace-dt's) makes one; an extractor would write outside the layout or through a link.
 */
export function entryHazard(entry: TarEntry): string | undefined {
  const quoted = JSON.stringify(entry.rawName);
  if (entry.rawName.startsWith('/')) return `entry ${quoted} has an absolute name: no conforming writer makes one`;
  if (entry.name.split('/').includes('..')) return `entry ${quoted} has a name with "..": no conforming writer makes one`;
  if (entry.type === 'file' || entry.type === 'contiguous-file' || entry.type === 'directory') return undefined;
  const kind = SPECIAL[entry.type] ?? `of type ${entry.type}`;
  const target = entry.linkname === undefined || entry.linkname === '' ? '' : ` (to ${JSON.stringify(entry.linkname)})`;
  return `entry ${quoted} is ${kind}${target}: only regular files and directories belong in the tar`;
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
