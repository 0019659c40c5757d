import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestHex } from './digest.ts';
import type { Descriptor } from './oci.ts';
import type { ReadOnlyStorage } from './storage.ts';

/** Small blobs wait in memory, larger ones in a spool file, so memory stays bounded by the window. */
const IN_MEMORY_LIMIT = 1024 * 1024;

export interface PrefetchedBlob {
  descriptor: Descriptor;
  open(): Promise<Readable>;
}

type Spooled = { kind: 'memory'; bytes: Buffer } | { kind: 'file'; path: string };

/**
 * The tar is written in order, one blob at a time; while it is, the next `concurrency - 1` blobs are
 * already downloading (and verifying) into the spool. The blob being written streams straight through
 * when its download had not started yet.
 */
export class Prefetcher {
  private readonly storage: ReadOnlyStorage;
  private readonly descriptors: readonly Descriptor[];
  private readonly ahead: number;
  private readonly spoolParent: string;
  private spoolDir: Promise<string> | undefined;
  private readonly spools = new Map<number, Promise<Spooled>>();
  private readonly inFlight = new Set<Readable>();

  constructor(storage: ReadOnlyStorage, descriptors: readonly Descriptor[], options: { concurrency: number; spoolParent: string }) {
    this.storage = storage;
    this.descriptors = descriptors;
    this.ahead = Math.max(0, options.concurrency - 1);
    this.spoolParent = options.spoolParent;
  }

  blobs(): PrefetchedBlob[] {
    return this.descriptors.map((descriptor, index) => ({ descriptor, open: () => this.open(index) }));
  }

  /** Stops downloads still running and removes the spool; call it whether the tar succeeded or not. */
  async close(): Promise<void> {
    for (const stream of this.inFlight) stream.destroy();
    await Promise.allSettled(this.spools.values());
    if (this.spoolDir) await rm(await this.spoolDir, { recursive: true, force: true });
  }

  private async open(index: number): Promise<Readable> {
    for (let next = index + 1; next <= Math.min(index + this.ahead, this.descriptors.length - 1); next++) this.spool(next);
    const spooled = this.spools.get(index);
    if (!spooled) return this.track(await this.storage.fetchBlob(this.descriptors[index] as Descriptor));
    const content = await spooled;
    if (content.kind === 'memory') return Readable.from([content.bytes]);
    const stream = createReadStream(content.path);
    stream.once('close', () => void unlink(content.path).catch(() => undefined));
    return stream;
  }

  private spool(index: number): void {
    if (this.spools.has(index)) return;
    const descriptor = this.descriptors[index] as Descriptor;
    const spooled = (async (): Promise<Spooled> => {
      const source = this.track(await this.storage.fetchBlob(descriptor));
      if (descriptor.size <= IN_MEMORY_LIMIT) {
        const chunks: Buffer[] = [];
        for await (const chunk of source) chunks.push(chunk as Buffer);
        return { kind: 'memory', bytes: Buffer.concat(chunks) };
      }
      this.spoolDir ??= mkdtemp(join(this.spoolParent, '.spool-'));
      const path = join(await this.spoolDir, digestHex(descriptor.digest));
      await pipeline(source, createWriteStream(path));
      return { kind: 'file', path };
    })();
    spooled.catch(() => undefined); // surfaced when the writer opens this blob
    this.spools.set(index, spooled);
  }

  private track(stream: Readable): Readable {
    this.inFlight.add(stream);
    stream.once('close', () => this.inFlight.delete(stream));
    return stream;
  }
}
