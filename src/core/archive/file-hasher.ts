import { createHash } from 'node:crypto';
import { startWorker, type Batch } from './worker-protocol.ts';

/** SHA-256 of a file's bytes as they stream past, in the order given. */
export interface FileHasher {
  /** Resolves when the hasher can take more (a worker that falls behind holds the reader back). */
  update(chunk: Buffer): Promise<void> | void;
  digest(): Promise<string>;
  /** Gives up (the read failed); idempotent. */
  close(): void;
}

/**
 * Big files are hashed on a worker thread, so that the reader's own work (tar parsing, every blob hashed
 * against its name) runs beside it on a second core; below this size a worker costs more to start than it saves.
 */
const WORKER_THRESHOLD = 64 * 1024 * 1024;

export function fileHasher(size: number): FileHasher {
  return size >= WORKER_THRESHOLD ? new WorkerHasher() : new InlineHasher();
}

class InlineHasher implements FileHasher {
  private readonly hash = createHash('sha256');

  update(chunk: Buffer): void {
    this.hash.update(chunk);
  }

  async digest(): Promise<string> {
    return `sha256:${this.hash.digest('hex')}`;
  }

  close(): void {}
}

/** Chunks sent but not yet hashed, at most: the reader waits beyond it. */
const MAX_PENDING = 8 * 1024 * 1024;
/**
 * What the reader's chunks are copied into for the worker: buffers that go there and come back, so that hashing a big
 * file allocates nothing per chunk (a fresh copy of every chunk cost a verify of 131 MB a fifth of its CPU time and
 * tens of MiB of garbage on both threads).
 */
const BUFFER_BYTES = 1024 * 1024;

class WorkerHasher implements FileHasher {
  private readonly worker = startWorker({ job: 'hash' });
  private readonly free: ArrayBuffer[] = [];
  private pending = 0;
  private room: (() => void) | undefined;
  private result: { resolve(digest: string): void; reject(error: Error): void } | undefined;
  private failure: Error | undefined;
  private closed = false;

  constructor() {
    this.worker.on('message', (message: ArrayBuffer | string) => {
      if (typeof message === 'string') return this.result?.resolve(message);
      this.pending -= BUFFER_BYTES;
      this.free.push(message);
      if (this.pending <= MAX_PENDING) this.wake();
    });
    this.worker.on('error', (error) => {
      this.failure = error;
      this.wake();
      this.result?.reject(error);
    });
  }

  async update(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    // Copies the worker owns while it hashes them: the reader still needs the original.
    for (let at = 0; at < chunk.byteLength; at += BUFFER_BYTES) {
      const piece = chunk.subarray(at, at + BUFFER_BYTES);
      const buffer = this.free.pop() ?? new ArrayBuffer(BUFFER_BYTES);
      new Uint8Array(buffer).set(piece);
      const batch: Batch = { buffer, length: piece.byteLength };
      this.pending += BUFFER_BYTES;
      this.worker.postMessage(batch, [buffer]);
    }
    if (this.pending > MAX_PENDING) await new Promise<void>((resolve) => (this.room = resolve));
    if (this.failure) throw this.failure;
  }

  async digest(): Promise<string> {
    if (this.failure) throw this.failure;
    const digest = new Promise<string>((resolve, reject) => (this.result = { resolve, reject }));
    this.worker.postMessage(null);
    try {
      return await digest;
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.worker.terminate();
  }

  private wake(): void {
    const room = this.room;
    this.room = undefined;
    room?.();
  }
}
