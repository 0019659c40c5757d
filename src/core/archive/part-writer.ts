import { createHash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { spentBuffers } from '../spent-buffers.ts';
import { FileHasher } from './file-hasher.ts';
import { WriteBehind } from './write-behind.ts';
import type { Written } from './worker-protocol.ts';

/** Where a tar over `--max-file-size` goes: part files of `partBytes` each (the last one shorter or equal). */
export interface VolumeTarget {
  partBytes: number;
  /** The file of part `index` (1-based); it must not exist yet. */
  partPath(index: number): string;
}

/** One part as written: its size and SHA-256, what its sidecar line states. */
export interface PartFile {
  path: string;
  bytes: number;
  sha256: string;
}

/** As many bytes gathered before a write as the single-file sink lets run ahead of the disk (file-sink.ts). */
const BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * The end of a pipeline that writes the stream into successive part files, each exactly `partBytes` but the last,
 * hashing each part and the whole as they pass. A part is created (exclusively) only when a byte for it comes, and
 * fsynced and closed when full; the last one when the stream ends. `remove()` deletes every part it created.
 */
export class PartWriter extends Writable {
  private readonly target: VolumeTarget;
  private readonly whole = createHash('sha256');
  private readonly done: PartFile[] = [];
  private readonly created: string[] = [];
  private current: { handle: FileHandle; hash: FileHasher; bytes: number; path: string; writeBehind: WriteBehind } | undefined;
  private bytes = 0;
  /** The write under way: what `remove()` waits for, so that no part is created after it. */
  private writing: Promise<void> = Promise.resolve();

  constructor(target: VolumeTarget) {
    super({ highWaterMark: BUFFER_BYTES });
    this.target = target;
  }

  /** The whole stream as written; valid once it finished. */
  written(): Written {
    return { bytes: this.bytes, sha256: 'sha256:' + this.whole.copy().digest('hex') };
  }

  /** The parts in order; valid once it finished. */
  parts(): PartFile[] {
    return [...this.done];
  }

  /** Deletes every part created (after a failure). */
  async remove(): Promise<void> {
    await this.writing.catch(() => undefined);
    await this.current?.handle.close().catch(() => undefined);
    this.current = undefined;
    await Promise.all(this.created.map((path) => rm(path, { force: true })));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.writing = this.writeChunks(chunks.map(({ chunk }) => chunk));
    this.writing.then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.closePart().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const closed = this.writing.catch(() => undefined).then(() => this.current?.handle.close());
    closed.then(
      () => callback(error),
      () => callback(error),
    );
  }

  private async writeChunks(chunks: Buffer[]): Promise<void> {
    const failed = this.current?.writeBehind.failure;
    if (failed !== undefined) throw failed;
    let pending: Buffer[] = [];
    for (const chunk of chunks) {
      this.whole.update(chunk);
      this.bytes += chunk.byteLength;
      spentBuffers(chunk.byteLength);
      for (let at = 0; at < chunk.byteLength;) {
        const part = this.current ?? (await this.openPart());
        const piece = chunk.subarray(at, at + Math.min(this.target.partBytes - part.bytes, chunk.byteLength - at));
        part.hash.update(piece);
        part.bytes += piece.byteLength;
        at += piece.byteLength;
        pending.push(piece);
        if (part.bytes === this.target.partBytes) {
          await writeAll(part.handle, pending);
          pending = [];
          await this.closePart();
        }
      }
    }
    if (this.current !== undefined) {
      await writeAll(this.current.handle, pending);
      this.current.writeBehind.passed(this.current.bytes);
    }
  }

  private async openPart(): Promise<NonNullable<PartWriter['current']>> {
    if (this.destroyed) throw new Error('the tar stream was torn down');
    const path = this.target.partPath(this.done.length + 1);
    const handle = await open(path, 'wx');
    this.created.push(path);
    this.current = { handle, hash: new FileHasher(), bytes: 0, path, writeBehind: new WriteBehind(handle) };
    return this.current;
  }

  private async closePart(): Promise<void> {
    const part = this.current;
    if (part === undefined) return;
    this.current = undefined;
    try {
      await part.writeBehind.settled();
      await part.handle.sync();
    } finally {
      await part.handle.close();
    }
    this.done.push({ path: part.path, bytes: part.bytes, sha256: part.hash.digest() });
  }
}

async function writeAll(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  const left = buffers.filter((buffer) => buffer.byteLength > 0);
  while (left.length > 0) {
    let { bytesWritten } = await handle.writev(left);
    // A short write: drop what went, go on from there.
    while (left.length > 0 && bytesWritten >= (left[0] as Buffer).byteLength) bytesWritten -= (left.shift() as Buffer).byteLength;
    if (bytesWritten > 0) left[0] = (left[0] as Buffer).subarray(bytesWritten);
  }
}
