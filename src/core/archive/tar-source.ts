import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** Reads at a byte position, as FileHandle.read does: what tar-index.ts and the far side's ranged uploads need. */
export interface PositionalReader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/** One file of a tar source, where its bytes sit in the whole. */
export interface SourcePart {
  path: string;
  /** Where the part starts in the joined tar. */
  start: number;
  size: number;
}

/**
 * A tar file as its readers see it: one file, or the parts of a tar written with `--max-file-size` read as one
 * stream (docs/formats.md, "File names"), by position or from a start to an end. Every file is opened at once,
 * each a regular file opened without following links, so that what is read is what was checked.
 */
export class TarSource implements PositionalReader {
  /** The tar's path (the joined name for parts): what messages name. */
  readonly path: string;
  readonly parts: readonly SourcePart[];
  readonly size: number;
  private readonly handles: readonly FileHandle[];

  private constructor(path: string, parts: SourcePart[], handles: FileHandle[]) {
    this.path = path;
    this.parts = parts;
    this.handles = handles;
    this.size = parts.reduce((sum, part) => sum + part.size, 0);
  }

  /**
   * Opens the tar at `path`, or, given `parts` (their paths in order), those parts as one tar named `path`. Throws a
   * NotRegularFileError for a path that is not a regular file, the file system's error for anything else.
   */
  static async open(path: string, parts: readonly string[] = []): Promise<TarSource> {
    const paths = parts.length === 0 ? [path] : parts;
    const handles: FileHandle[] = [];
    const placed: SourcePart[] = [];
    try {
      let start = 0;
      for (const partPath of paths) {
        const { handle, size } = await openRegularFile(partPath, parts.length > 0);
        handles.push(handle);
        placed.push({ path: partPath, start, size });
        start += size;
      }
    } catch (error) {
      await Promise.all(handles.map((handle) => handle.close()));
      throw error;
    }
    return new TarSource(path, placed, handles);
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    let bytesRead = 0;
    for (let index = this.partAt(position); index < this.parts.length && bytesRead < length; index++) {
      const part = this.parts[index] as SourcePart;
      const from = position + bytesRead - part.start;
      const want = Math.min(length - bytesRead, part.size - from);
      const got = (await (this.handles[index] as FileHandle).read(buffer, offset + bytesRead, want, from)).bytesRead;
      bytesRead += got;
      if (got < want) break; // the part shrank since it was opened: the caller sees a short read
    }
    return { bytesRead };
  }

  /**
   * Bytes `start` to `end` (default: the end) by positional reads of `chunkBytes`, never a chunk across two parts:
   * any number of streams at once, none closing a file when destroyed. A part that ends early fails the stream.
   */
  stream(start = 0, end: number = this.size, chunkBytes = 1024 * 1024): Readable {
    return Readable.from(this.chunks(start, end, chunkBytes), { objectMode: false });
  }

  private async *chunks(start: number, end: number, chunkBytes: number): AsyncGenerator<Buffer> {
    for (let at = start; at < end;) {
      const part = this.parts[this.partAt(at)] as SourcePart;
      const chunk = Buffer.allocUnsafe(Math.min(chunkBytes, end - at, part.start + part.size - at));
      const { bytesRead } = await this.read(chunk, 0, chunk.byteLength, at);
      if (bytesRead === 0) throw new Error(`${this.path}: changed since it was checked: it ends at byte ${at}`);
      at += bytesRead;
      yield chunk.subarray(0, bytesRead);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((handle) => handle.close()));
  }

  /** The index of the part holding byte `position` (the last part for the end). */
  private partAt(position: number): number {
    const index = this.parts.findIndex((part) => position < part.start + part.size);
    return index === -1 ? this.parts.length - 1 : index;
  }
}

/**
 * Opens the file itself, never what a symbolic link points at, and without waiting on a FIFO's writer; only a
 * regular file is read (a directory, a FIFO or a device named like a tar would fail or never end).
 */
async function openRegularFile(path: string, isPart: boolean): Promise<{ handle: FileHandle; size: number }> {
  const which = isPart ? ` (${path.slice(path.lastIndexOf('/') + 1)})` : '';
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new NotRegularFileError(`a symbolic link${which}`);
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new NotRegularFileError(`${fileKind(stats)}${which}`);
    return { handle, size: stats.size };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** A path that is not a regular file: never read. */
export class NotRegularFileError extends Error {
  constructor(kind: string) {
    super(notRegularFile(kind));
    this.name = 'NotRegularFileError';
  }
}

/** The message for a tar-named path that is not a regular file (docs/formats.md "What verify and deserialize refuse"). */
export function notRegularFile(kind: string): string {
  return `not a regular file but ${kind}: only regular files are read (put the tar itself here)`;
}

/** What a file system object is, for messages: `a directory`, `a symbolic link`, `a FIFO`, … */
export function fileKind(stats: {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a file';
}
