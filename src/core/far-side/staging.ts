/**
 * A compressed tar's blob staged on disk as the scan unpacks it, so that it goes up by byte range like a plain tar's
 * blob (several at once, any piece sent again) while the scan goes on: tar-upload.ts. Each file is made in the system's
 * temporary directory (os.tmpdir(): TMPDIR, else /tmp) without a name (Linux's O_TMPFILE, 0600, never linked in), and
 * written and read through its open descriptor: a hostile temporary directory can neither read nor swap it, and
 * nothing is left behind however the run ends, a kill included; the disk is given back as the file is closed. Where
 * the file system or kernel has no O_TMPFILE, the file is made in a private directory of its own,
 * `batch-serialize-staging-XXXXXX` (mkdtemp: 0700), exclusively and never through a link, and both leave the
 * directory tree at once (a kill in that instant leaves the directory).
 */
import { constants } from 'node:fs';
import { mkdtemp, open, rmdir, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ByteRangeReader } from '../oci/storage.ts';

const STAGING_PREFIX = 'batch-serialize-staging-';
/**
 * The share of the file system staging never takes: the registry loaded into may keep its blobs there too, and a disk
 * filled to its end fails its writes.
 */
const RESERVED_SHARE = 0.1;

export class StagedFile {
  private readonly handle: FileHandle;
  private written = 0;

  private constructor(handle: FileHandle) {
    this.handle = handle;
  }

  /**
   * An empty file for `size` bytes in the temporary directory, or undefined when its file system lacks room for them
   * beyond RESERVED_SHARE; fails as the file system does when no file can be made there (read-only, not ours, missing).
   */
  static async create(size: number): Promise<StagedFile | undefined> {
    const parent = tmpdir();
    const room = await statfs(parent);
    if (room.bavail * room.bsize - size < room.blocks * room.bsize * RESERVED_SHARE) return undefined;
    return new StagedFile((await unnamedFile(parent)) ?? (await fileUnlinkedAtOnce(parent)));
  }

  /** Appends `chunk`; fails as the file system does (full: ENOSPC). */
  async write(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.byteLength;) {
      const { bytesWritten } = await this.handle.write(chunk, at, chunk.byteLength - at, this.written);
      at += bytesWritten;
      this.written += bytesWritten;
    }
  }

  /**
   * The bytes written, by range, in positional reads of `chunkBytes`: as many ranges at once as asked. (A FileHandle's
   * own read streams each leave a listener on it, a warning past ten.)
   */
  reader(chunkBytes: number): ByteRangeReader {
    return (start, end) => Readable.from(this.chunks(start, end, chunkBytes), { objectMode: false });
  }

  private async *chunks(start: number, end: number, chunkBytes: number): AsyncGenerator<Buffer> {
    for (let at = start; at < end;) {
      const chunk = Buffer.allocUnsafe(Math.min(chunkBytes, end - at));
      const { bytesRead } = await this.handle.read(chunk, 0, chunk.byteLength, at);
      if (bytesRead === 0) throw new Error(`a staged file ends at byte ${at} of ${this.written}`);
      at += bytesRead;
      yield chunk.subarray(0, bytesRead);
    }
  }

  /** The file's disk is free once this settles. */
  async close(): Promise<void> {
    await this.handle.close();
  }
}

/**
 * Linux's O_TMPFILE, which Node leaves out of fs.constants: O_DIRECTORY and the bit __O_TMPFILE, 020000000 on x86-64
 * and arm64 (it differs on some other architectures, where the named way is taken).
 */
const O_TMPFILE = process.platform === 'linux' && ['x64', 'arm64'].includes(process.arch) ? 0o20000000 | constants.O_DIRECTORY : undefined;

/** A file without a name in `parent`, never to be linked in (O_EXCL); undefined where the kernel or file system cannot. */
async function unnamedFile(parent: string): Promise<FileHandle | undefined> {
  if (O_TMPFILE === undefined) return undefined;
  return open(parent, O_TMPFILE | constants.O_RDWR | constants.O_EXCL, 0o600).catch(() => undefined);
}

/** A file made in a private directory of `parent`, then unlinked and the directory removed. */
async function fileUnlinkedAtOnce(parent: string): Promise<FileHandle> {
  const dir = await mkdtemp(join(parent, STAGING_PREFIX));
  const path = join(dir, 'blob');
  try {
    const handle = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      await unlink(path);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return handle;
  } finally {
    await rmdir(dir).catch(() => undefined); // left, with the file, only when the file could not be unlinked
  }
}
