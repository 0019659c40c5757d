import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.ts';
import type { BlobPart, FetchBlobOptions, ReadOnlyStorage } from '../oci/storage.ts';
import { discard } from '../streams.ts';
import { BlobDownload, type Piece, type PieceOwner } from './joined-blob.ts';
import { LinkEstimate } from './link-estimate.ts';

const MiB = 1024 * 1024;
/**
 * Bytes the downloads may hold ahead of the writer (reserved for answers awaited and data not written yet), so that
 * memory stays flat whatever the tar. Until a connection is measured, it is a piece for every download at once and
 * two more. Once one is seen to be slow (LinkEstimate.slow), two pieces for every download and two more,
 * within bounds: each connection has a piece in flight while the one it brought before waits for the writer, which
 * takes pieces in blob order, so one slow connection holds up those ahead of it (with one piece per download,
 * 40 ms / 5 MB/s per connection: 5 of 8 downloads ran, the window full). When one keeps up (a loopback or LAN
 * registry), WINDOW_BYTES is enough and deeper buffers only cost allocation, page faults and GC (one that grew to
 * 48-64 MiB took 15-20% more CPU on the 400 MB loopback bench).
 */
const WINDOW_BYTES = 8 * MiB;
const MAX_WINDOW_BYTES = 64 * MiB;

export interface PrefetchedBlob {
  descriptor: Descriptor;
  open(): Promise<Readable>;
}

export interface PrefetchOptions {
  /** Downloads at once, each on its own connection: whole blobs, and pieces of big ones. */
  concurrency: number;
  /** What the blobs are downloaded for (the tar's sync name): a failed download's message names it. */
  context?: string;
}

/**
 * Downloads a tar's blobs ahead of its writer, which takes them in order. Up to `concurrency` downloads run at once,
 * issued strictly in tar order, and they hold at most the window's bytes that the writer has not taken yet. A blob
 * larger than two pieces, from a storage that serves parts (a registry, by Range), comes in pieces over several
 * connections at once; the pieces are joined in order and the joined blob is digest-checked as one. A server that
 * sends the whole blob instead (or that the registry redirected to) gives that blob as one stream: the other pieces
 * are dropped at their headers, and from then on a blob's other pieces wait for its first to come as a part.
 * A download that breaks is resumed by the storage (registry/blob-download.ts); one that fails for good fails the
 * tar when the writer reaches it, and nothing after it is asked for.
 */
export class Prefetcher implements PieceOwner {
  private readonly storage: ReadOnlyStorage;
  private readonly downloads: BlobDownload[];
  private readonly slots: number;
  private readonly fetchOptions: FetchBlobOptions;
  private readonly link = new LinkEstimate();
  /** Window bytes held: reserved by downloads, not taken by the writer yet. */
  private held = 0;
  /** Requests sent and not finished. */
  private active = 0;
  /** The first blob whose bytes are not all asked for. */
  private next = 0;
  /**
   * Whether this storage sends parts, as its last answer to a part said; undefined until one is answered. Only once it
   * sent a whole blob for a part does a blob's first piece go alone: the first big blob's pieces all go at once (its
   * first answer is a round trip away, over a new connection), and should they come whole, one is kept and the others
   * are dropped at their headers (discard() closes their connections).
   */
  private partsServed: boolean | undefined;
  private started = false;
  private failed = false;
  private closed = false;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(storage: ReadOnlyStorage, descriptors: readonly Descriptor[], options: PrefetchOptions) {
    this.storage = storage;
    this.slots = Math.max(1, options.concurrency);
    this.fetchOptions = options.context === undefined ? {} : { context: options.context };
    const context = options.context === undefined ? '' : ` for ${options.context}`;
    this.downloads = descriptors.map(
      (descriptor) => new BlobDownload(this, descriptor, `blob ${storage.location}@${descriptor.digest}${context}`),
    );
  }

  blobs(): PrefetchedBlob[] {
    return this.downloads.map((download) => ({
      descriptor: download.descriptor,
      open: async () => {
        this.started = true;
        this.pump();
        return download.open();
      },
    }));
  }

  /** Stops the downloads still running; call it whether the tar succeeded or not. */
  async close(): Promise<void> {
    this.closed = true;
    for (const download of this.downloads) download.cancel();
    await Promise.allSettled(this.pending); // a download answered meanwhile is dropped as it is answered
  }

  /** Issues downloads in tar order while slots, the window and the storage's answers allow. */
  pump(): void {
    while (this.started && !this.closed && !this.failed && this.next < this.downloads.length) {
      const download = this.downloads[this.next] as BlobDownload;
      if (download.requested) {
        this.next++;
        continue;
      }
      if (this.active >= this.slots) return;
      const piece = download.nextPiece(this.pieceBytes());
      if (piece.part && piece.start > 0 && this.partsServed === false && !download.answered) return;
      if (this.held > 0 && this.held + piece.reserved > this.window()) return;
      this.issue(download, piece);
    }
  }

  /**
   * Whether a blob comes in pieces: not with one slot, nor once one connection keeps up with the writer (pieces would
   * only add round trips there). Decided once, when the blob is first asked for or opened, whichever comes first.
   */
  splits(descriptor: Descriptor): boolean {
    if (this.slots === 1 || this.storage.fetchBlobPart === undefined || this.link.keepsUpAlone()) return false;
    return descriptor.size > 2 * this.pieceBytes();
  }

  /** Small enough for the largest window to hold its pieces. */
  private pieceBytes(): number {
    return this.link.pieceBytes(MAX_WINDOW_BYTES / this.windowPieces());
  }

  /** Pieces the window holds unless one connection keeps up: see WINDOW_BYTES. */
  private windowPieces(): number {
    return (this.link.slow() ? 2 : 1) * this.slots + 2;
  }

  /** What the downloads may hold: see WINDOW_BYTES. */
  private window(): number {
    if (this.link.keepsUpAlone()) return WINDOW_BYTES;
    return Math.max(WINDOW_BYTES, Math.min(MAX_WINDOW_BYTES, this.windowPieces() * this.pieceBytes()));
  }

  /** The writer took `bytes` of a piece: what the piece reserved goes back to the window. */
  release(piece: Piece, bytes: number): void {
    const released = Math.min(bytes, piece.unreleased);
    if (released === 0) return;
    piece.unreleased -= released;
    this.held -= released;
    this.pump();
  }

  /** A request ended (its body ended, failed or was dropped): its slot is free. */
  finished(piece: Piece, error?: Error): void {
    if (piece.finished) return;
    piece.finished = true;
    this.active--;
    if (error !== undefined) this.failed = true;
    else if (piece.ended && piece.sentAt !== undefined) this.link.delivered(piece.received, performance.now() - piece.sentAt);
    this.pump();
  }

  private issue(download: BlobDownload, piece: Piece): void {
    download.planned = piece.end;
    download.requested = piece.end === download.descriptor.size;
    download.pieces.push(piece);
    this.active++;
    this.held += piece.reserved;
    piece.unreleased = piece.reserved;
    const sentAt = performance.now();
    piece.sentAt = sentAt;
    const { descriptor } = download;
    const request = this.request(descriptor, piece);
    const settled = request.then(
      (answer) => {
        this.link.answered(performance.now() - sentAt);
        if (this.closed) {
          discard(answer.body);
          return;
        }
        if (piece.part) this.partsServed = !answer.whole;
        download.answer(piece, answer);
      },
      (error: Error) => download.fail(piece, error),
    );
    this.pending.add(settled);
    void settled.finally(() => this.pending.delete(settled));
  }

  /** A part by the storage's fetchBlobPart (the only way a piece is a part), or the whole blob, verified by the storage. */
  private async request(descriptor: Descriptor, piece: Piece): Promise<BlobPart> {
    if (piece.part && this.storage.fetchBlobPart !== undefined) {
      return this.storage.fetchBlobPart(descriptor, piece.start, piece.end - 1, this.fetchOptions);
    }
    return { whole: true, body: await this.storage.fetchBlob(descriptor, this.fetchOptions) };
  }

  /** A piece no longer wanted (its blob came whole after all, or the tar is done): its body, reservation and slot go. */
  dropped(piece: Piece): void {
    if (piece.body !== undefined) discard(piece.body);
    this.release(piece, piece.unreleased);
    // A request still out frees its slot now: its answer, dropped too, comes later.
    this.finished(piece);
  }
}
