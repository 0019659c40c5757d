/**
 * A compressed tar's blob staged on disk as the scan unpacks it, so that it goes up by byte range like a plain tar's
 * blob (several at once, any piece sent again) while the scan goes on: tar-upload.ts. Each file is made in a
 * directory of its own under the system's temporary directory (os.tmpdir(): TMPDIR, else /tmp),
 * `batch-serialize-staging-XXXXXX`, private (mkdtemp: 0700), the file in it created exclusively (0600, never through
 * a link); both leave the directory tree at once, the file written and read through its open descriptor. So a
 * hostile temporary directory can neither read nor swap it, and nothing is left behind however the run ends, a kill
 * included (but for the instant between making the directory and removing it): the disk is given back as the file is
 * closed.
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
      return new StagedFile(handle);
    } finally {
      await rmdir(dir).catch(() => undefined); // left, with the file, only when the file could not be unlinked
    }
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
