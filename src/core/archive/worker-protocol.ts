import { Worker } from 'node:worker_threads';
import type { Compression } from './compression.ts';

/**
 * The jobs of the archive's one worker thread (worker.ts). The worker runs its source file as it is (Node strips
 * the types; the bundler copies it beside the bundle), so it imports only Node's modules, and types from here.
 */
export type WorkerJob =
  /** In: chunks (transferred ArrayBuffers), each answered with its size; `null` is answered with the digest. */
  | { job: 'hash' }
  /**
   * In: `{ buffer, length }` batches, each buffer given back once written; `null` is answered with `Written`
   * once the file is fsynced. A failure ends the worker with an 'error'.
   */
  | { job: 'compress-to-file'; fd: number; compression: Exclude<Compression, 'none'>; level: number | undefined; chunkSize: number };

/** What reached a file: its size and SHA-256, after compression. */
export interface Written {
  bytes: number;
  sha256: string;
}

export interface Batch {
  buffer: ArrayBuffer;
  length: number;
}

const WORKER_FILE = new URL('./worker.ts', import.meta.url);

export function startWorker(job: WorkerJob): Worker {
  return new Worker(WORKER_FILE, { workerData: job });
}
