import { PassThrough, pipeline, type Readable } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.ts';
import type { FetchBlobOptions, ReadOnlyStorage } from '../oci/storage.ts';

/**
 * Memory the upcoming blobs may fill while the writer is busy, shared by the window. A download that has filled
 * its share waits (TCP backpressure, the kernel's socket buffer holding more) until the writer reaches it, so
 * memory stays bounded and no byte goes through the disk twice, as spooling did. Requests are already answered
 * and data is flowing when the writer gets there, which is what hides a registry's latency; deeper buffers only
 * cost allocation and GC (32 MiB was slower than 8 on the loopback bench).
 */
const READAHEAD_BYTES = 8 * 1024 * 1024;
const MIN_SHARE = 1024 * 1024;

export interface PrefetchedBlob {
  descriptor: Descriptor;
  open(): Promise<Readable>;
}

export interface PrefetchOptions {
  /** Blobs downloading at once: the one being written and `concurrency - 1` ahead of it. */
  concurrency: number;
  /** What the blobs are downloaded for (the tar's sync name): a failed download's message names it. */
  context?: string;
}

/**
 * The tar is written in order, one blob at a time; while it is, the next `concurrency - 1` blobs are already
 * downloading (and verifying) into memory, each up to its share of READAHEAD_BYTES. The blob being written
 * streams straight through when its download had not started yet. A download that breaks is resumed by the
 * storage (registry/blob-download.ts), waiting or not; one that fails for good fails the tar.
 */
export class Prefetcher {
  private readonly storage: ReadOnlyStorage;
  private readonly descriptors: readonly Descriptor[];
  private readonly ahead: number;
  private readonly share: number;
  private readonly fetchOptions: FetchBlobOptions;
  private readonly started = new Map<number, Promise<Readable>>();
  private readonly live = new Set<Readable>();
  private closed = false;

  constructor(storage: ReadOnlyStorage, descriptors: readonly Descriptor[], options: PrefetchOptions) {
    this.storage = storage;
    this.descriptors = descriptors;
    this.ahead = Math.max(0, options.concurrency - 1);
    this.share = Math.max(MIN_SHARE, Math.floor(READAHEAD_BYTES / Math.max(1, this.ahead)));
    this.fetchOptions = options.context === undefined ? {} : { context: options.context };
  }

  blobs(): PrefetchedBlob[] {
    return this.descriptors.map((descriptor, index) => ({ descriptor, open: () => this.open(index) }));
  }

  /** Stops the downloads still running; call it whether the tar succeeded or not. */
  async close(): Promise<void> {
    this.closed = true;
    for (const stream of this.live) stream.destroy();
    await Promise.allSettled(this.started.values()); // a download starting meanwhile is destroyed by track()
  }

  private async open(index: number): Promise<Readable> {
    for (let next = index + 1; next <= Math.min(index + this.ahead, this.descriptors.length - 1); next++) this.start(next);
    const waiting = this.started.get(index);
    if (waiting !== undefined) return waiting;
    return this.track(await this.storage.fetchBlob(this.descriptors[index] as Descriptor, this.fetchOptions));
  }

  private start(index: number): void {
    if (this.started.has(index) || this.closed) return;
    const buffered = this.storage.fetchBlob(this.descriptors[index] as Descriptor, this.fetchOptions).then((source) => {
      const buffer = new PassThrough({ highWaterMark: Math.floor(this.share / 2) }); // it buffers both sides
      pipeline(source, buffer, () => undefined); // a failure stays on `buffer`, for open() to see
      return this.track(buffer);
    });
    buffered.catch(() => undefined); // seen by open()
    this.started.set(index, buffered);
  }

  private track(stream: Readable): Readable {
    if (this.closed) {
      stream.destroy();
      return stream;
    }
    this.live.add(stream);
    stream.once('close', () => this.live.delete(stream));
    return stream;
  }
}
