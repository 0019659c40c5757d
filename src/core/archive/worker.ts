/**
 * The archive's worker thread: compressing, hashing and writing a big tar beside the tar writer. worker-protocol.ts
 * starts the thread on the source text of `workerMain`, Node's modules its argument: the thread loads no TypeScript
 * (stripping types there cost 17 MiB and 0.15 s of CPU per thread), so the function uses nothing but its argument
 * and globals, and this file imports types only.
 */
import type { Batch, WorkerJob, Written } from './worker-protocol.ts';

/** What the thread's code is given: `require` of each, in the thread. */
export interface WorkerModules {
  crypto: typeof import('node:crypto');
  fs: typeof import('node:fs');
  threads: typeof import('node:worker_threads');
  v8: typeof import('node:v8');
  vm: typeof import('node:vm');
  zlib: typeof import('node:zlib');
}

export function workerMain({ crypto, fs, threads, v8, vm, zlib }: WorkerModules): void {
  const port = threads.parentPort;
  if (port === null) throw new Error('workerMain runs as a worker thread only');
  const { fd, compression, level, chunkSize } = threads.workerData as WorkerJob;
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  const compress =
    compression === 'gzip'
      ? zlib.createGzip(level === undefined ? { chunkSize } : { chunkSize, level })
      : zlib.createZstdCompress(
          level === undefined ? { chunkSize } : { chunkSize, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } },
        );
  // Every output chunk is a fresh buffer, garbage once written; V8 collects such buffers only after some 64 MiB of
  // them, which held a zstd tar of 1 GB 38 MiB above what it needs. A young-generation collection per batch frees
  // them as they go, for little: the young generation holds little else.
  v8.setFlagsFromString('--expose-gc');
  const collect = vm.runInNewContext('gc') as (options: { type: 'minor' }) => void;
  compress.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.byteLength;
    for (let at = 0; at < chunk.byteLength;) at += fs.writeSync(fd, chunk, at);
  });
  compress.on('end', () => {
    fs.fsyncSync(fd);
    const written: Written = { bytes, sha256: 'sha256:' + hash.digest('hex') };
    port.postMessage(written);
  });
  compress.on('error', (error) => {
    throw error;
  });
  // The compressor ends only once every batch went through on its own: zstd frames the last input differently
  // when it comes with the end, which would make the file depend on timing.
  let compressing = 0;
  let ending = false;
  const endWhenIdle = () => {
    if (ending && compressing === 0) compress.end();
  };
  port.on('message', (batch: Batch | null) => {
    if (batch === null) {
      ending = true;
      return endWhenIdle();
    }
    compressing++;
    compress.write(new Uint8Array(batch.buffer, 0, batch.length), () => {
      compressing--;
      collect({ type: 'minor' });
      port.postMessage(batch.buffer, [batch.buffer]);
      endWhenIdle();
    });
  });
}
