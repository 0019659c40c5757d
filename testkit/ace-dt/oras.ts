/**
 * The oras-go v2.6.0 and go-digest pieces on ace-dt's read path: digest validation (go-digest Digest.Validate),
 * content.ReadAll (size and digest verified), the in-memory store ace-dt caches manifests in
 * (content/memory, internal/cas/memory.go), and ace-dt's orasutil.ExistenceCachedStorage in front of the
 * destination (internal/orasutil/adapter.go).
 */
import { createHash } from 'node:crypto';
import { AceDtError, AceDtPanic, goErrors, isSentinel, wrapf } from './errors.ts';
import { keyOf, type GoDescriptor } from './image-spec.ts';

/** content.Storage as the tracker and Deserialize use it (Exists, Fetch, Push), synchronous: everything is in memory. */
export interface Storage {
  exists(d: GoDescriptor): boolean;
  fetch(d: GoDescriptor): Buffer;
  push(d: GoDescriptor, content: Buffer): void;
}

const ALGORITHMS: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** go-digest Digest.Validate: the error text, or undefined for a valid digest. */
export function digestError(digest: string): string | undefined {
  const i = digest.indexOf(':');
  if (i <= 0 || i + 1 === digest.length) return 'invalid checksum digest format';
  const algorithm = digest.slice(0, i);
  const encoded = digest.slice(i + 1);
  const size = ALGORITHMS[algorithm];
  if (size === undefined) {
    return /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)
      ? 'unsupported digest algorithm'
      : 'invalid checksum digest format';
  }
  if (encoded.length !== size * 2) return 'invalid checksum digest length';
  return /^[a-f0-9]*$/.test(encoded) ? undefined : 'invalid checksum digest format';
}

/** The digest of `content` in the algorithm of `like` (valid). */
export function digestLike(like: string, content: Buffer): string {
  const algorithm = like.slice(0, like.indexOf(':'));
  return `${algorithm}:${createHash(algorithm).update(content).digest('hex')}`;
}

/**
 * content.ReadAll(r, desc): exactly desc.Size bytes, then nothing more, hashing to desc.Digest. `read(n)` gives up
 * to n bytes, fewer at the end or when the stream breaks (the next read then throws), as io.ReadFull sees a reader.
 */
export async function readAllVerified(read: (n: number) => Promise<Buffer>, d: GoDescriptor): Promise<Buffer> {
  if (d.size < 0) throw new AceDtError('invalid descriptor size');
  const invalid = digestError(d.digest);
  if (invalid !== undefined) throw new AceDtError(`invalid digest: ${invalid}`);
  // io.ReadFull: a stream that stops short is io.ErrUnexpectedEOF with what it gave; any other error is passed on.
  const data = await read(d.size).catch((error: unknown) => {
    if (isSentinel(error, 'unexpected EOF')) return Buffer.alloc(0);
    throw wrapf('read failed', error);
  });
  if (data.length < d.size) {
    const got = `expected content size of ${d.size}, got ${data.length}, for digest ${d.digest}`;
    throw new AceDtError(`read failed: ${got}: unexpected EOF`, 'unexpected EOF');
  }
  // ensureEOF: anything but a clean end (more bytes, or a read error) is trailing data.
  const more = await read(1).catch(() => undefined);
  if (more === undefined || more.length > 0) throw new AceDtError('trailing data');
  if (digestLike(d.digest, data) !== d.digest) throw new AceDtError('mismatched digest');
  return data;
}

/** A reader over bytes already in memory, for readAllVerified. */
export function bytesReader(content: Buffer): (n: number) => Promise<Buffer> {
  let offset = 0;
  return async (n) => {
    const chunk = content.subarray(offset, offset + n);
    offset += chunk.length;
    return chunk;
  };
}

/** content.FetchAll(fetcher, desc): Fetch, then ReadAll against the descriptor. */
export function fetchAll(storage: Storage, d: GoDescriptor): Promise<Buffer> {
  return readAllVerified(bytesReader(storage.fetch(d)), d);
}

/** oras-go's memory store: keyed by (mediaType, digest, size); content verified on Push. */
export class MemoryStore {
  private readonly content = new Map<string, Buffer>();

  exists(d: GoDescriptor): boolean {
    return this.content.has(keyOf(d));
  }

  fetch(d: GoDescriptor): Buffer {
    const found = this.content.get(keyOf(d));
    if (found === undefined) throw new AceDtError(`${d.digest}: ${d.mediaType}: not found`, 'not found');
    return found;
  }

  async push(d: GoDescriptor, content: Buffer): Promise<void> {
    if (this.content.has(keyOf(d))) throw new AceDtError(`${d.digest}: ${d.mediaType}: already exists`, 'already exists');
    this.content.set(keyOf(d), await readAllVerified(bytesReader(content), d));
  }
}

/**
 * orasutil.ExistenceCachedStorage: Exists answers are remembered per (mediaType, digest, size), true or false;
 * a Push of something remembered as present is ErrAlreadyExists; a Fetch of something remembered absent is
 * ErrNotFound. One per Deserialize call.
 */
export class ExistenceCachedStorage implements Storage {
  private readonly known = new Map<string, boolean>();
  private readonly storage: Storage;

  constructor(storage: Storage) {
    this.storage = storage;
  }

  exists(d: GoDescriptor): boolean {
    const cached = this.known.get(keyOf(d));
    if (cached !== undefined) return cached;
    const found = this.storage.exists(d);
    this.known.set(keyOf(d), found);
    return found;
  }

  push(d: GoDescriptor, content: Buffer): void {
    if (this.known.get(keyOf(d)) === true) throw goErrors.alreadyExists();
    this.storage.push(d, content);
    this.known.set(keyOf(d), true);
  }

  fetch(d: GoDescriptor): Buffer {
    if (this.known.get(keyOf(d)) === false) throw goErrors.notFound();
    const content = this.storage.fetch(d);
    this.known.set(keyOf(d), true);
    return content;
  }
}

/** encoding.tryPushBytes: a push where "already exists" is success; a length that is not desc.Size panics. */
export async function tryPushBytes(pusher: Pick<Storage, 'push'> | MemoryStore, d: GoDescriptor, data: Buffer): Promise<void> {
  if (data.length !== d.size) throw new AceDtPanic('Size mismatch');
  try {
    await pusher.push(d, data);
  } catch (error) {
    if (!isSentinel(error, 'already exists')) throw error;
  }
}
