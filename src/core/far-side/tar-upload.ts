/**
 * The far side's uploads from a tar, several at once. Mostly while the tar is checked (`UploadsWhileChecking`, fed
 * by the scan): each blob the destination lacks goes up as the scan reaches it, so the tar is read once. What that
 * pass did not put there (rare: a blob the scan could not place) comes after the check, in a second pass
 * (`uploadFromTar`). A plain tar is read at any offset: its headers are indexed, then each blob is uploaded by byte
 * range of the file once the scan found it right, UPLOADS at a time. A compressed tar can only be read from its
 * start: blobs up to HELD_BLOB_BYTES are taken into memory (BUFFER_BYTES in all), bigger ones up to
 * STAGED_BLOB_BYTES are staged in files of TMPDIR as the scan unpacks them (staging.ts; STAGED_BYTES at once), and
 * each goes up once the scan found it right, from memory or by byte range of its file as a plain tar's, while the
 * scan goes on. A bigger blob, or one over BUFFER_BYTES where no file can be staged (TMPDIR read-only, full,
 * missing), streams straight through (one PUT: the tar is read and unpacked while the registry takes it), its upload
 * holding the scan back. A big stream a proxy refuses once it took most of it (a 413, or a connection it reset or
 * closed: BodyRefusedError) is read again in the second pass, in chunks, and so is a blob whose staged file broke
 * (the disk filled under it).
 */
import { once } from 'node:events';
import { PassThrough, pipeline, Readable, Transform } from 'node:stream';
import pLimit from 'p-limit';
import { detectCompression } from '../archive/compression.ts';
import { indexPlainTar, type TarMember } from '../archive/tar-index.ts';
import type { BlobSink, BlobTap } from '../archive/tar-scan.ts';
import { readTarFile, TarReadError } from '../archive/tar-reader.ts';
import { TarSource } from '../archive/tar-source.ts';
import { digestHex } from '../oci/digest.ts';
import { BodyRefusedError } from '../registry/blob-upload.ts';
import { spentBuffers } from '../spent-buffers.ts';
import { StagedFile } from './staging.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { BlobContent, ByteRangeReader, Target } from '../oci/storage.ts';

/**
 * Uploads at once. The registry hashes each blob as it arrives and answers each upload with a round trip or two of its
 * own, so uploads side by side keep it busy; as many as the serializer downloads at once by default.
 */
const UPLOADS = 4;
/** A compressed tar's blobs held in memory at once while they upload; a blob over it that is not staged streams. */
const BUFFER_BYTES = 16 * 1024 * 1024;
/** The biggest blob of a compressed tar held in memory while it uploads; a bigger one is staged on disk. */
const HELD_BLOB_BYTES = 1024 * 1024;
/**
 * The biggest blob of a compressed tar staged; a bigger one streams. Held in 16 MiB or streamed, a 131 MB zstd tar's
 * blobs of 1 to 26 MB went up one at a time, the scan waiting on each (bench:far: 1.04x skopeo's time, staged 0.77x).
 * But a blob this big keeps its one upload busy: staged, its bytes cost a write and a read more, and on two cores the
 * 1.5 GB tar's blobs of 22 to 300 MB took 9.6 s staged, 8.8 s streamed, 9.0 s with those over 32 MiB streamed.
 */
const STAGED_BLOB_BYTES = 32 * 1024 * 1024;
/** A compressed tar's blobs staged at once: the disk they may take. */
const STAGED_BYTES = 256 * 1024 * 1024;
/**
 * Read size of a blob's byte range, and what a streamed upload buffers. UPLOADS ranges in flight, each a few chunks
 * deep, were what held a plain tar's deserialize above 128 MiB with 1 MiB reads (256 KiB: 110 MiB, at no cost in time).
 */
const RANGE_READ_BYTES = 256 * 1024;

export interface TarUploadHooks {
  /** Bytes of the blobs read from the tar for upload (a piece sent twice counts twice). */
  read?(bytes: number): void;
  uploaded?(blob: Descriptor): void;
}

/**
 * Uploads during the scan of a tar: `tap` goes to scanTar; each blob it is shown that `wanted` says the target
 * lacks goes up (a plain tar's by byte range once its bytes checked out, a compressed tar's from the scan's own
 * bytes). After the first failure nothing more is started. `settle()` waits for those under way and gives that
 * failure (or undefined), never throwing; the blobs put there are in `uploaded`.
 */
export class UploadsWhileChecking {
  readonly uploaded = new Map<string, Descriptor>();
  private readonly path: string;
  private readonly target: Target;
  private readonly wanted: (blob: Descriptor) => Promise<boolean>;
  private readonly hooks: TarUploadHooks;
  private readonly uploads = new Uploads();
  private readonly memory = new Budget(BUFFER_BYTES);
  private readonly disk = new Budget(STAGED_BYTES);
  /** No blob of the tar is staged any more: a file could not be made or written. */
  private stagingOff = false;
  private readonly source: TarSource;
  /** A plain tar's members, where each blob is read from; undefined for a compressed tar (or one not indexable). */
  private readonly members: Map<string, TarMember> | undefined;

  private constructor(
    path: string,
    target: Target,
    wanted: UploadsWhileChecking['wanted'],
    hooks: TarUploadHooks,
    source: TarSource,
    members: Map<string, TarMember> | undefined,
  ) {
    this.path = path;
    this.target = target;
    this.wanted = wanted;
    this.hooks = hooks;
    this.source = source;
    this.members = members;
  }

  /** Undefined when the tar cannot be opened as regular files: the scan says why, and nothing goes up meanwhile. */
  static async open(
    path: string,
    parts: readonly string[],
    target: Target,
    wanted: (blob: Descriptor) => Promise<boolean>,
    hooks: TarUploadHooks = {},
  ): Promise<UploadsWhileChecking | undefined> {
    let source: TarSource;
    try {
      source = await TarSource.open(path, parts);
    } catch {
      return undefined;
    }
    try {
      const head = Buffer.alloc(4);
      const { bytesRead } = await source.read(head, 0, head.length, 0);
      // A plain tar whose headers cannot be indexed is damaged: the scan says how, and its blobs wait for it.
      const members = detectCompression(head.subarray(0, bytesRead)) === 'none' ? await indexPlainTar(source, path) : undefined;
      return new UploadsWhileChecking(path, target, wanted, hooks, source, members);
    } catch {
      await source.close();
      return undefined;
    }
  }

  /** Never fails the scan: a registry that cannot answer is this pass's failure, not the tar's. */
  readonly tap: BlobTap = async (blob) => {
    if (this.uploads.failure !== undefined || this.uploaded.has(blob.digest)) return undefined;
    try {
      if (!(await this.wanted(blob))) return undefined;
    } catch (error) {
      this.uploads.failure ??= error;
      return undefined;
    }
    if (this.members !== undefined) return this.ranged(blob, this.members);
    const stageable = blob.size > HELD_BLOB_BYTES && blob.size <= STAGED_BLOB_BYTES && !this.stagingOff;
    const staged = stageable ? await this.staged(blob) : undefined;
    if (staged !== undefined) return staged;
    if (blob.size > BUFFER_BYTES) return this.streamed(blob);
    await this.memory.take(blob.size);
    return this.held(blob);
  };

  async settle(): Promise<unknown> {
    try {
      await this.uploads.done();
      return undefined;
    } catch (error) {
      return error;
    } finally {
      await this.source.close();
    }
  }

  /** Read again by byte range of the file once the scan found its bytes right. */
  private ranged(blob: Descriptor, members: Map<string, TarMember>): BlobSink | undefined {
    const member = members.get(`blobs/sha256/${digestHex(blob.digest)}`);
    if (member === undefined || member.size !== blob.size) return undefined;
    const range = (start: number, end: number) =>
      counted(this.source.stream(member.offset + start, member.offset + end, RANGE_READ_BYTES), this.hooks);
    return {
      write: () => undefined,
      close: (ok) => {
        if (ok) void this.uploads.start(() => this.push(blob, range));
      },
    };
  }

  /** Held in memory as the scan reads it (HeldChunks), uploaded once it checked out. */
  private held(blob: Descriptor): BlobSink {
    const held = new HeldChunks(blob.size);
    return {
      write: (chunk) => void held.add(chunk),
      close: (ok) => {
        if (!ok) return this.memory.give(blob.size);
        void this.uploads.start(
          () => this.push(blob, held.ranges),
          () => this.memory.give(blob.size),
        );
      },
    };
  }

  /**
   * Staged on disk as the scan reads it (staging.ts), uploaded by byte range once it checked out. Undefined (held or
   * streamed instead) when the disk lacks room for it; once a file could not be made or written (the staging
   * directory read-only, full, not ours), no more of the tar's blobs are staged, and one whose file broke goes up in
   * the second pass.
   */
  private async staged(blob: Descriptor): Promise<BlobSink | undefined> {
    await this.disk.take(blob.size);
    let file: StagedFile | undefined;
    try {
      file = await StagedFile.create(blob.size);
    } catch {
      this.stagingOff = true;
    }
    if (file === undefined) {
      this.disk.give(blob.size);
      return undefined;
    }
    const staged = file;
    const release = () => staged.close().finally(() => this.disk.give(blob.size));
    const range = staged.reader(RANGE_READ_BYTES);
    let broken = false;
    return {
      write: async (chunk) => {
        if (broken) return;
        try {
          await staged.write(chunk);
        } catch {
          broken = this.stagingOff = true;
        }
      },
      close: (ok) => {
        if (!ok || broken) return void release().catch(() => undefined);
        void this.uploads.start(() => this.push(blob, (start, end) => counted(range(start, end), this.hooks)), release);
      },
    };
  }

  /**
   * Streamed as the scan reads it, the scan waiting on the upload; bytes that do not check out fail the upload
   * before it is closed, so the registry never keeps them.
   */
  private streamed(blob: Descriptor): BlobSink {
    const body = new PassThrough({ highWaterMark: RANGE_READ_BYTES });
    let over = false;
    const upload = this.uploads
      .start(async () => void (await this.push(blob, counted(body, this.hooks)).catch(unlessRefused)))
      .finally(() => {
        over = true; // ended or failed: the scan no longer waits on it
        body.resume();
      });
    return {
      write: async (chunk) => {
        if (!over && !body.write(chunk)) await Promise.race([once(body, 'drain').catch(() => undefined), upload]);
      },
      close: (ok) => {
        if (ok) body.end();
        else body.destroy(new Error(`${blob.digest}: its bytes in the tar are not right`));
      },
    };
  }

  private async push(blob: Descriptor, content: BlobContent): Promise<void> {
    await push(this.path, this.target, blob, content, this.hooks);
    this.uploaded.set(blob.digest, blob);
  }
}

/**
 * Uploads `blobs` (by digest) from the tar at `path` (or its `parts`, read as one: docs/formats.md, "File names") to
 * `target`; fails when the tar no longer holds one of them.
 */
export async function uploadFromTar(
  path: string,
  parts: readonly string[],
  target: Target,
  blobs: ReadonlyMap<string, Descriptor>,
  hooks: TarUploadHooks = {},
): Promise<void> {
  const source = await TarSource.open(path, parts).catch((error: unknown) => {
    throw new Error(`${path}: changed since it was checked: ${(error as Error).message}`);
  });
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await source.read(head, 0, head.length, 0);
    if (detectCompression(head.subarray(0, bytesRead)) === 'none') await uploadRanges(source, path, target, blobs, hooks);
    else await uploadStreamed(path, parts, target, blobs, hooks);
  } finally {
    await source.close();
  }
}

async function uploadRanges(
  source: TarSource,
  path: string,
  target: Target,
  blobs: ReadonlyMap<string, Descriptor>,
  hooks: TarUploadHooks,
): Promise<void> {
  const members = await indexPlainTar(source, path);
  const placed = [...blobs.values()].map((blob) => {
    const member = members.get(`blobs/sha256/${digestHex(blob.digest)}`);
    if (member === undefined || member.size !== blob.size) throw changed(path, blob);
    return { blob, offset: member.offset };
  });
  // Biggest first: the last uploads to finish are small ones.
  placed.sort((a, b) => b.blob.size - a.blob.size);
  const uploads = new Uploads();
  for (const { blob, offset } of placed) {
    const range = (start: number, end: number) => counted(source.stream(offset + start, offset + end, RANGE_READ_BYTES), hooks);
    void uploads.start(() => push(path, target, blob, range, hooks));
  }
  await uploads.done();
}

async function uploadStreamed(
  path: string,
  parts: readonly string[],
  target: Target,
  blobs: ReadonlyMap<string, Descriptor>,
  hooks: TarUploadHooks,
): Promise<void> {
  const left = new Map(blobs);
  const refused = new Map<string, Descriptor>();
  const uploads = new Uploads();
  const memory = new Budget(BUFFER_BYTES);
  try {
    await readTarFile(
      path,
      async (entry, body) => {
        if (uploads.failure !== undefined) throw uploads.failure; // no use reading on
        const blob = entry.digest === undefined ? undefined : left.get(entry.digest);
        if (blob === undefined) return;
        left.delete(blob.digest);
        if (blob.size > BUFFER_BYTES) {
          return uploads.start(async () => {
            if ((await push(path, target, blob, counted(body, hooks), hooks).catch(unlessRefused)) === 'refused')
              refused.set(blob.digest, blob);
          });
        }
        await memory.take(blob.size);
        const held = await heldChunks(counted(body, hooks), blob.size, () => changed(path, blob));
        void uploads.start(() => push(path, target, blob, held, hooks).finally(() => memory.give(blob.size)));
      },
      { hashFile: false, parts },
    );
  } finally {
    await uploads.done();
  }
  const [missing] = left.values();
  if (missing !== undefined) throw changed(path, missing);
  // The registry's limit is learned now: they go in chunks.
  if (refused.size > 0) await uploadStreamed(path, parts, target, refused, hooks);
}

/** A big stream refused once most of it went is left to be read again; any other failure is one. */
function unlessRefused(error: unknown): 'refused' {
  if (error instanceof BodyRefusedError || (error instanceof TarReadError && error.cause instanceof BodyRefusedError)) return 'refused';
  throw error;
}

/**
 * Uploads UPLOADS at a time; after the first failure, those not started yet are dropped. `done()` waits for those
 * under way and throws that failure.
 */
class Uploads {
  private readonly limit = pLimit(UPLOADS);
  private readonly running: Array<Promise<void>> = [];
  failure: unknown;

  /**
   * Settles when the upload did (or was dropped), and `release` (what it held) after it, never rejecting: the failure
   * is kept for done().
   */
  start(upload: () => Promise<void>, release?: () => unknown): Promise<void> {
    const run = this.limit(async () => {
      try {
        if (this.failure === undefined) await upload();
      } finally {
        await release?.();
      }
    }).catch((error: unknown) => {
      this.failure ??= error;
    });
    this.running.push(run);
    return run;
  }

  async done(): Promise<void> {
    await Promise.all(this.running);
    if (this.failure !== undefined) throw this.failure;
  }
}

/** One blob up; a failure names the tar and the blob's entry, as the tar reader's own do. */
async function push(path: string, target: Target, blob: Descriptor, content: BlobContent, hooks: TarUploadHooks): Promise<void> {
  try {
    await target.pushBlob(blob, content);
  } catch (error) {
    throw error instanceof TarReadError ? error : new TarReadError(path, `blobs/sha256/${digestHex(blob.digest)}`, error);
  }
  hooks.uploaded?.(blob);
}

/** A blob's body held in memory; fails with `tooLong()` past `size`. */
async function heldChunks(body: Readable, size: number, tooLong: () => Error): Promise<ByteRangeReader> {
  const held = new HeldChunks(size);
  for await (const chunk of body as AsyncIterable<Buffer>) if (!held.add(chunk)) throw tooLong();
  return held.ranges;
}

/**
 * A blob's bytes held in memory as they come, as a byte-range reader over its chunks: a piece a proxy refused can be
 * sent again. A chunk much smaller than the buffer it is a piece of (the decompressor's output buffer, a file read)
 * is copied: held, it would keep that whole buffer alive, unseen by the budget.
 */
class HeldChunks {
  private readonly chunks: Buffer[] = [];
  private readonly size: number;
  private bytes = 0;

  constructor(size: number) {
    this.size = size;
  }

  /** False (nothing held) for a chunk that runs past the size. */
  add(chunk: Buffer): boolean {
    if (this.bytes + chunk.byteLength > this.size) return false;
    this.chunks.push(chunk.byteLength * 2 < chunk.buffer.byteLength ? Buffer.from(chunk) : chunk);
    this.bytes += chunk.byteLength;
    return true;
  }

  /** Bytes `start` to `end`, a stream of subarrays. */
  readonly ranges: ByteRangeReader = (start, end) => Readable.from(subarrays(this.chunks, start, end));
}

function* subarrays(chunks: readonly Buffer[], start: number, end: number): Generator<Buffer> {
  let at = 0;
  for (const chunk of chunks) {
    const [from, to] = [Math.max(start - at, 0), Math.min(end - at, chunk.byteLength)];
    if (from < to) yield chunk.subarray(from, to);
    at += chunk.byteLength;
  }
}

function changed(path: string, blob: Descriptor): Error {
  return new Error(`${path}: changed since it was checked: ${blob.digest} is no longer in it`);
}

/** The bytes read for upload, counted for the hooks and as spent buffers once passed on. */
function counted(bytes: Readable, hooks: TarUploadHooks): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hooks.read?.(chunk.byteLength);
      spentBuffers(chunk.byteLength);
      done(null, chunk);
    },
  });
  return pipeline(bytes, counter, () => undefined);
}

/** Bytes that may be held at once; a taker waits until enough are given back (one bigger than all waits for all). */
class Budget {
  private readonly total: number;
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(total: number) {
    this.total = total;
    this.free = total;
  }

  async take(bytes: number): Promise<void> {
    while (this.free < Math.min(bytes, this.total)) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.free -= bytes;
  }

  give(bytes: number): void {
    this.free += bytes;
    for (const wake of this.waiting.splice(0)) wake();
  }
}
