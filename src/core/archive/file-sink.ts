import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Transform, Writable } from 'node:stream';
import { COMPRESSOR_CHUNK_BYTES, compressor, type Compression } from './compression.ts';
import { spentBuffers } from '../spent-buffers.ts';
import { startWorker, type Batch, type Written } from './worker-protocol.ts';
import { PartWriter, type PartFile, type VolumeTarget } from './part-writer.ts';
import { WriteBehind } from './write-behind.ts';

/**
 * The tail of a pipeline that (compresses,) hashes and writes into an open file, fsyncing it before the last
 * stage finishes. The caller still closes the handle (closing it twice is harmless).
 */
export interface FileSink {
  stages: [Writable, ...Writable[]];
  /** Valid once the pipeline has finished. */
  written(): Written;
}

/** The sink of a tar written as parts (part-writer.ts): its parts, and the way to remove them after a failure. */
export interface PartsSink extends FileSink {
  parts(): PartFile[];
  remove(): Promise<void>;
}

export interface FileSinkOptions {
  compression: Compression;
  level?: number;
  /** Bytes expected to pass (before compression), to pick where the work runs. */
  expectedBytes: number;
}

/**
 * From this much on, a compressed tar is compressed, hashed and written on a worker thread, beside the downloads,
 * digest checks and tar framing of the main thread (zstd, 400 MB: 3.6 s -> 1.3 s in `npm run bench`); below it
 * a worker costs more to start than it saves. An uncompressed tar stays inline: on the worker it was slower
 * (1.4 s -> 1.6 s), the copy into batches and the synchronous writes costing more than the hashing saved.
 */
const WORKER_THRESHOLD = 64 * 1024 * 1024;

/**
 * Parts are hashed and written on this thread, compressed or not (zlib compresses on Node's thread pool): the worker
 * writes one file descriptor it is given. Measured (`node bench/volumes.ts`, zstd, 400 MB in parts of 100 MB against
 * one file): 1.26 times the wall time and 1.38 times the CPU, spent here hashing each part and the whole (the blobs'
 * digests are checked here too) and collecting the compressed chunks; compressing on the worker and sending the bytes
 * back to the part writer changed nothing (1.47 against 1.41 wall, 1.42 against 1.44 CPU, in one run).
 */
export function partsSink(target: VolumeTarget, options: FileSinkOptions): PartsSink {
  const writer = new PartWriter(target);
  const compress = compressor(options.compression, options.level);
  return {
    stages: compress ? [fixedChunks(COMPRESSOR_CHUNK_BYTES), compress, writer] : [writer],
    written: () => writer.written(),
    parts: () => writer.parts(),
    remove: () => writer.remove(),
  };
}

export function fileSink(handle: FileHandle, options: FileSinkOptions): FileSink {
  const { compression } = options;
  const onWorker = compression !== 'none' && options.expectedBytes >= WORKER_THRESHOLD;
  return onWorker ? workerSink(handle, { ...options, compression }) : inlineSink(handle, options);
}

/**
 * How far the tar may run ahead of the disk. A deep buffer reaches the file in a few large writev calls while the
 * next blobs stream in; the default 64 KiB made a 400 MB tar about 15% slower (`npm run bench`).
 */
const FILE_BUFFER_BYTES = 8 * 1024 * 1024;

function inlineSink(handle: FileHandle, options: FileSinkOptions): FileSink {
  const hash = createHash('sha256');
  let bytes = 0;
  const writeBehind = new WriteBehind(handle);
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      spentBuffers(chunk.byteLength);
      writeBehind.passed(bytes);
      done(writeBehind.failure, chunk);
    },
    flush(done) {
      writeBehind.settled().then(() => done(), done);
    },
  });
  // `flush` fsyncs before the stream closes the file, and pipeline settles only once it has closed.
  const file = handle.createWriteStream({ flush: true, highWaterMark: FILE_BUFFER_BYTES });
  const compress = compressor(options.compression, options.level);
  let sha256: string | undefined;
  return {
    stages: compress ? [fixedChunks(COMPRESSOR_CHUNK_BYTES), compress, measure, file] : [measure, file],
    written: () => ({ bytes, sha256: (sha256 ??= 'sha256:' + hash.digest('hex')) }),
  };
}

/**
 * Re-cuts a stream into chunks of exactly `size` bytes (the last one shorter). zstd's output depends on how its
 * input arrives, and downloads arrive as the network pleases: fed fixed chunks, the same tar compresses to the same bytes.
 */
function fixedChunks(size: number): Transform {
  let pending = Buffer.allocUnsafe(size);
  let filled = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let at = 0; at < chunk.byteLength;) {
        const taken = Math.min(size - filled, chunk.byteLength - at);
        chunk.copy(pending, filled, at, at + taken);
        filled += taken;
        at += taken;
        if (filled === size) {
          this.push(pending);
          pending = Buffer.allocUnsafe(size);
          filled = 0;
        }
      }
      done();
    },
    flush(done) {
      done(null, filled > 0 ? pending.subarray(0, filled) : null);
    },
  });
}

/** Bytes gathered into one message: few enough messages that posting costs little, each one copy. */
const BATCH_BYTES = 2 * 1024 * 1024;
/** Batches posted but not yet taken, at most: the tar waits beyond it. */
const MAX_IN_FLIGHT = 4;

function workerSink(handle: FileHandle, options: FileSinkOptions & { compression: 'gzip' | 'zstd' }): FileSink {
  const worker = startWorker({
    job: 'compress-to-file',
    fd: handle.fd,
    compression: options.compression,
    level: options.level,
    chunkSize: COMPRESSOR_CHUNK_BYTES,
  });
  const writeBehind = new WriteBehind(handle);
  let fed = 0;
  const free: ArrayBuffer[] = [];
  let batch = new Uint8Array(BATCH_BYTES);
  let filled = 0;
  let inFlight = 0;
  let failure: Error | undefined;
  let waiting: ((error?: Error) => void) | undefined;
  let result: Written | undefined;
  const wake = () => {
    const resume = waiting;
    waiting = undefined;
    resume?.(failure);
  };
  worker.on('message', (message: ArrayBuffer | Written) => {
    if (message instanceof ArrayBuffer) {
      inFlight--;
      free.push(message);
    } else result = message;
    wake();
  });
  worker.on('error', (error) => {
    failure = error;
    wake();
  });
  worker.on('exit', () => {
    failure ??= new Error('the file writer thread stopped early');
    wake();
  });
  const settled = (done: (error?: Error | null) => void, ready: () => boolean) => {
    if (failure) return done(failure);
    if (ready()) return done();
    waiting = (error) => (error ? done(error) : settled(done, ready));
  };
  const post = () => {
    const message: Batch = { buffer: batch.buffer, length: filled };
    worker.postMessage(message, [batch.buffer]);
    inFlight++;
    const reused = free.pop();
    batch = reused === undefined ? new Uint8Array(BATCH_BYTES) : new Uint8Array(reused);
    filled = 0;
  };
  const sink = new Writable({
    highWaterMark: BATCH_BYTES,
    write(chunk: Buffer, _encoding, done) {
      if (writeBehind.failure !== undefined) return done(writeBehind.failure);
      spentBuffers(chunk.byteLength);
      writeBehind.passed((fed += chunk.byteLength));
      for (let at = 0; at < chunk.byteLength;) {
        const taken = Math.min(BATCH_BYTES - filled, chunk.byteLength - at);
        batch.set(chunk.subarray(at, at + taken), filled);
        filled += taken;
        at += taken;
        if (filled === BATCH_BYTES) post();
      }
      settled(done, () => inFlight < MAX_IN_FLIGHT);
    },
    final(done) {
      if (filled > 0) post();
      worker.postMessage(null);
      const flushed = (error?: Error | null) => (error ? done(error) : writeBehind.settled().then(() => done(), done));
      settled(flushed, () => result !== undefined);
    },
    destroy(error, done) {
      void worker.terminate().finally(() => done(error));
    },
  });
  sink.once('finish', () => void worker.terminate());
  return {
    stages: [sink],
    written: () => result as Written,
  };
}
