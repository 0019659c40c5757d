import type { FileHandle } from 'node:fs/promises';

/**
 * A file's data is flushed every this many bytes written (fdatasync on the thread pool, beside the writes), so the
 * disk works while the network does and the fsync at the end waits for the last stretch only: through
 * `npm run bench:wan`'s 40 ms link, 110 ms for the whole 128 MB tar, 20-35 ms after it.
 */
const WRITE_BEHIND_BYTES = 32 * 1024 * 1024;

/**
 * Flushes of a file while it is written (see WRITE_BEHIND_BYTES): a tar's (file-sink.ts: by this thread or the worker's
 * of a compressed tar) or a volume part's (part-writer.ts). A failed one fails the file: Linux reports a write-back
 * error to one fsync only, so the fsync at the end could pass over it.
 */
export class WriteBehind {
  private readonly handle: FileHandle;
  private failed: Error | undefined;
  private flushedAt = 0;
  private flushing: Promise<void> | undefined;

  constructor(handle: FileHandle) {
    this.handle = handle;
  }

  /** `bytes` have passed towards the file: a flush once WRITE_BEHIND_BYTES more passed since the last began, and it ended. */
  passed(bytes: number): void {
    if (this.flushing !== undefined || bytes - this.flushedAt < WRITE_BEHIND_BYTES) return;
    this.flushedAt = bytes;
    this.flushing = this.handle
      .datasync()
      .catch((error: Error) => void (this.failed ??= error))
      .finally(() => (this.flushing = undefined));
  }

  /** The first flush that failed, once it did: the writer fails with it. */
  get failure(): Error | undefined {
    return this.failed;
  }

  /** Once no flush is running: rejects with the first that failed. */
  async settled(): Promise<void> {
    await this.flushing;
    if (this.failed !== undefined) throw this.failed;
  }
}
