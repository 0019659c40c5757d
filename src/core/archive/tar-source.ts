import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { basename } from 'node:path';

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
 * Parts held open at once, most recently read kept: a tar of more parts than the process may open (`ulimit -n`)
 * is read all the same. A reader may open a part beyond them while all are being read from.
 */
const OPEN_PARTS = 8;

/**
 * A tar file as its readers see it: one file, or the parts of a tar written with `--max-file-size` read as one
 * stream (docs/formats.md, "File names"), by position or from a start to an end. Every file is opened and checked
 * at once, a regular file opened without following links; at most OPEN_PARTS stay open, and a part opened again
 * must be the very file checked (same device and inode, same size), so that what is read is what was checked.
 */
export class TarSource implements PositionalReader {
  /** The tar's path (the joined name for parts): what messages name. */
  readonly path: string;
  readonly parts: readonly SourcePart[];
  readonly size: number;
  private readonly checked: readonly CheckedFile[];
  /** The parts open now, least recently used first (a Map keeps insertion order). */
  private readonly open: Map<number, OpenPart>;
  private closed = false;

  private constructor(path: string, parts: SourcePart[], checked: CheckedFile[], open: Map<number, OpenPart>) {
    this.path = path;
    this.parts = parts;
    this.checked = checked;
    this.open = open;
    this.size = parts.reduce((sum, part) => sum + part.size, 0);
  }

  /**
   * Opens the tar at `path`, or, given `parts` (their paths in order), those parts as one tar named `path`. Throws a
   * NotRegularFileError for a path that is not a regular file, the file system's error for anything else.
   */
  static async open(path: string, parts: readonly string[] = []): Promise<TarSource> {
    const paths = parts.length === 0 ? [path] : parts;
    const open = new Map<number, OpenPart>();
    const checked: CheckedFile[] = [];
    const placed: SourcePart[] = [];
    try {
      let start = 0;
      for (const [index, partPath] of paths.entries()) {
        const file = await openRegularFile(partPath, parts.length > 0);
        checked.push(file);
        placed.push({ path: partPath, start, size: file.size });
        start += file.size;
        if (open.size < OPEN_PARTS) open.set(index, { handle: Promise.resolve(file.handle), reading: 0 });
        else await file.handle.close();
      }
    } catch (error) {
      await closeAll(open);
      throw error;
    }
    return new TarSource(path, placed, checked, open);
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    let bytesRead = 0;
    for (let index = this.partAt(position); index < this.parts.length && bytesRead < length; index++) {
      const part = this.parts[index] as SourcePart;
      const from = position + bytesRead - part.start;
      const want = Math.min(length - bytesRead, part.size - from);
      const got = await this.withPart(index, async (handle) => (await handle.read(buffer, offset + bytesRead, want, from)).bytesRead);
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
    this.closed = true;
    await closeAll(this.open);
  }

  /** The index of the part holding byte `position` (the last part for the end). */
  private partAt(position: number): number {
    const index = this.parts.findIndex((part) => position < part.start + part.size);
    return index === -1 ? this.parts.length - 1 : index;
  }

  /** Runs `use` on part `index`'s file, opening it again (and closing the least recently used idle one) if need be. */
  private async withPart<T>(index: number, use: (handle: FileHandle) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error(`${this.path}: read after it was closed`);
    let part = this.open.get(index);
    if (part === undefined) {
      const idle = [...this.open].find(([, candidate]) => candidate.reading === 0);
      if (this.open.size >= OPEN_PARTS && idle !== undefined) {
        this.open.delete(idle[0]);
        void idle[1].handle.then((handle) => handle.close()).catch(() => undefined);
      }
      const reopened: OpenPart = { handle: this.reopen(index), reading: 0 };
      reopened.handle.catch(() => this.open.get(index) === reopened && this.open.delete(index));
      part = reopened;
    }
    this.open.delete(index);
    this.open.set(index, part); // most recently used last
    part.reading++;
    try {
      return await use(await part.handle);
    } finally {
      part.reading--;
    }
  }

  /** The part's file again, refused unless it is the file checked when the tar was opened. */
  private async reopen(index: number): Promise<FileHandle> {
    const was = this.checked[index] as CheckedFile;
    const part = this.parts[index] as SourcePart;
    const name = basename(part.path);
    let file: CheckedFile;
    try {
      file = await openRegularFile(part.path, true);
    } catch (error) {
      throw new Error(`${this.path}: changed since it was checked: ${name}: ${(error as Error).message}`, { cause: error });
    }
    if (file.dev !== was.dev || file.ino !== was.ino || file.size !== was.size) {
      await file.handle.close();
      throw new Error(`${this.path}: changed since it was checked: ${name} is another file now`);
    }
    return file.handle;
  }
}

/** A file as opened and checked: its handle, and what tells it from another file put at its path later. */
interface CheckedFile {
  handle: FileHandle;
  size: number;
  dev: number;
  ino: number;
}

interface OpenPart {
  handle: Promise<FileHandle>;
  /** Reads under way: the part is not closed meanwhile. */
  reading: number;
}

async function closeAll(open: Map<number, OpenPart>): Promise<void> {
  const parts = [...open.values()];
  open.clear();
  await Promise.all(parts.map(async (part) => (await part.handle.catch(() => undefined))?.close()));
}

/**
 * Opens the file itself, never what a symbolic link points at, and without waiting on a FIFO's writer; only a
 * regular file is read (a directory, a FIFO or a device named like a tar would fail or never end).
 */
async function openRegularFile(path: string, isPart: boolean): Promise<CheckedFile> {
  const which = isPart ? ` (${basename(path)})` : '';
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
    return { handle, size: stats.size, dev: stats.dev, ino: stats.ino };
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
