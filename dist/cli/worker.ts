/**
 * The archive's worker thread: hashing a big file beside the tar reader, or compressing, hashing and writing a
 * tar beside the tar writer. Started by worker-protocol.ts; runs as it is, so only Node's modules are imported.
 */
import { createHash } from 'node:crypto';
import { fsyncSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { constants, createGzip, createZstdCompress, type Gzip, type ZstdCompress } from 'node:zlib';
import type { Batch, WorkerJob, Written } from './worker-protocol.ts';

const port = parentPort;
if (port === null) throw new Error('worker.ts runs as a worker thread only');
const task = workerData as WorkerJob;

if (task.job === 'hash') {
  const hash = createHash('sha256');
  port.on('message', (chunk: ArrayBuffer | null) => {
    if (chunk === null) port.postMessage('sha256:' + hash.digest('hex'));
    else {
      hash.update(new Uint8Array(chunk));
      port.postMessage(chunk.byteLength);
    }
  });
} else {
  const { fd, compression, level, chunkSize } = task;
  const hash = createHash('sha256');
  let bytes = 0;
  const compress: Gzip | ZstdCompress =
    compression === 'gzip'
      ? createGzip(level === undefined ? { chunkSize } : { chunkSize, level })
      : createZstdCompress(level === undefined ? { chunkSize } : { chunkSize, params: { [constants.ZSTD_c_compressionLevel]: level } });
  compress.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.byteLength;
    for (let at = 0; at < chunk.byteLength;) at += writeSync(fd, chunk, at);
  });
  compress.on('end', () => {
    fsyncSync(fd);
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
      port.postMessage(batch.buffer, [batch.buffer]);
      endWhenIdle();
    });
  });
}
