import { Worker } from 'node:worker_threads';
import type { Compression } from './compression.ts';
import { workerMain, type WorkerModules } from './worker.ts';

/**
 * The job of the archive's worker thread (worker.ts). In: `{ buffer, length }` batches, each buffer given back once
 * written; `null` is answered with `Written` once the file is fsynced. A failure ends the worker with an 'error'.
 */
export interface WorkerJob {
  job: 'compress-to-file';
  fd: number;
  compression: Exclude<Compression, 'none'>;
  level: number | undefined;
  chunkSize: number;
}

/** What reached a file: its size and SHA-256, after compression. */
export interface Written {
  bytes: number;
  sha256: string;
}

export interface Batch {
  buffer: ArrayBuffer;
  length: number;
}

/** Where the thread gets each of its modules. */
const MODULES: Record<keyof WorkerModules, string> = {
  crypto: 'node:crypto',
  fs: 'node:fs',
  threads: 'node:worker_threads',
  v8: 'node:v8',
  vm: 'node:vm',
  zlib: 'node:zlib',
};

/** workerMain's source text (its types stripped already, by Node or the bundler), called with the thread's modules. */
const WORKER_SOURCE = `(${workerMain.toString()})({ ${Object.entries(MODULES)
  .map(([name, id]) => `${name}: require('${id}')`)
  .join(', ')} })`;

export function startWorker(job: WorkerJob): Worker {
  return new Worker(WORKER_SOURCE, { eval: true, workerData: job });
}
