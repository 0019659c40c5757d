import { Readable, pipeline } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.ts';
import { VerifyingStream } from '../oci/digest.ts';
import type { BlobPart } from '../oci/storage.ts';
import { discard } from '../streams.ts';

/** What a blob's pieces tell the prefetcher that asked for them. */
export interface PieceOwner {
  /** Whether the blob comes in pieces; asked once. */
  splits(descriptor: Descriptor): boolean;
  /** The writer took `bytes` of the piece: what it reserved goes back. */
  release(piece: Piece, bytes: number): void;
  /** The piece's request ended; with `error`, for good. */
  finished(piece: Piece, error?: Error): void;
  /** The piece is no longer wanted. */
  dropped(piece: Piece): void;
}

/** Bytes `start` to `end` (exclusive) of a blob, by one request: a part by Range, or (not `part`) the whole blob. */
export interface Piece {
  part: boolean;
  start: number;
  end: number;
  /** Window bytes it holds until the writer takes them: the part's length; for a whole blob, what it may buffer. */
  reserved: number;
  unreleased: number;
  chunks: Buffer[];
  buffered: number;
  /** Bytes that arrived, for the link's rate. */
  received: number;
  body?: Readable;
  /** When its request was sent: the clock of the link's measures (LinkEstimate). */
  sentAt?: number;
  finished: boolean;
  ended: boolean;
  error?: Error;
}

/** One blob's pieces, joined in order into what the writer reads (digest-checked when it came in parts). */
export class BlobDownload {
  readonly descriptor: Descriptor;
  private readonly owner: PieceOwner;
  private readonly what: string;
  /** Blob bytes asked for so far: the next piece starts here. */
  planned = 0;
  /** Every byte was asked for (an empty blob too, which is asked for all the same: the storage verifies it). */
  requested = false;
  /** Pieces asked for and not yet taken whole by the writer, in blob order. */
  pieces: Piece[] = [];
  /** The first piece was answered. */
  answered = false;
  private split: boolean | undefined;
  /** Bytes passed to the writer. */
  private taken = 0;
  private readonly reader: Readable;
  private wanting = false;

  constructor(owner: PieceOwner, descriptor: Descriptor, what: string) {
    this.owner = owner;
    this.descriptor = descriptor;
    this.what = what;
    this.reader = new Readable({
      read: () => {
        this.wanting = true;
        this.feed();
      },
      destroy: (error, callback) => {
        this.cancel();
        callback(error);
      },
    });
  }

  /** What the writer reads: verified here when it comes in parts (the storage verifies a blob it sends whole). */
  open(): Readable {
    this.split ??= this.owner.splits(this.descriptor);
    if (!this.split) return this.reader;
    return pipeline(this.reader, new VerifyingStream(this.what, this.descriptor), () => undefined);
  }

  /** The next piece to ask for: a part when the blob comes in pieces, else the whole blob. */
  nextPiece(pieceBytes: number): Piece {
    const { size } = this.descriptor;
    this.split ??= this.owner.splits(this.descriptor);
    const left = size - this.planned;
    const bytes = !this.split || left <= 1.5 * pieceBytes ? left : pieceBytes;
    const reserved = this.split ? bytes : Math.min(size, 2 * pieceBytes);
    const piece = { part: this.split, start: this.planned, end: this.planned + bytes, reserved, unreleased: 0, chunks: [], buffered: 0 };
    return { ...piece, received: 0, finished: false, ended: false };
  }

  answer(piece: Piece, answer: BlobPart): void {
    if (piece.start === 0) this.answered = true;
    if (!this.pieces.includes(piece)) return discard(answer.body); // dropped meanwhile
    if (piece.part && answer.whole) return this.wholeAfterAll(piece, answer.body);
    this.attach(piece, answer.body, 0);
  }

  fail(piece: Piece, error: Error): void {
    if (piece.start === 0) this.answered = true;
    piece.error = error;
    this.owner.finished(piece, error);
    if (piece === this.pieces[0]) this.feed();
  }

  /** Drops every piece: the writer gave up on the blob, or the tar is done. */
  cancel(): void {
    const pieces = this.pieces;
    this.pieces = [];
    for (const piece of pieces) this.owner.dropped(piece);
    if (!this.reader.destroyed) this.reader.destroy();
  }

  /**
   * A part was answered with the whole blob (the server or the store it redirected to ignores Range): that stream
   * becomes the blob from the byte the writer is at, and the blob's other pieces are dropped.
   */
  private wholeAfterAll(piece: Piece, body: Readable): void {
    const others = this.pieces.filter((other) => other !== piece);
    Object.assign(piece, { start: 0, end: this.descriptor.size, chunks: [], buffered: 0 });
    this.pieces = [piece];
    this.planned = this.descriptor.size;
    this.requested = true;
    for (const other of others) this.owner.dropped(other);
    this.attach(piece, body, this.taken);
  }

  private attach(piece: Piece, body: Readable, skip: number): void {
    piece.body = body;
    body.on('data', (chunk: Buffer) => {
      piece.received += chunk.byteLength;
      if (skip > 0) {
        const dropped = Math.min(skip, chunk.byteLength);
        skip -= dropped;
        chunk = chunk.subarray(dropped);
        if (chunk.byteLength === 0) return;
      }
      piece.chunks.push(chunk);
      piece.buffered += chunk.byteLength;
      if (piece.buffered > piece.reserved) body.pause(); // a whole blob past what it may hold; a part never is
      if (piece === this.pieces[0]) this.feed();
    });
    body.on('end', () => {
      piece.ended = true;
      this.owner.finished(piece);
      if (piece === this.pieces[0]) this.feed();
    });
    body.on('error', (error) => {
      if (piece.finished) return;
      piece.error = error;
      this.owner.finished(piece, error);
      if (piece === this.pieces[0]) this.feed();
    });
  }

  /** Passes the first piece's bytes on while the writer wants them; at its end, goes on with the next piece. */
  private feed(): void {
    while (this.wanting && !this.reader.destroyed) {
      const piece = this.pieces[0];
      if (piece === undefined) {
        if (!this.requested) return; // its first piece is not asked for yet: pump() will, and data then comes
        this.wanting = false;
        this.reader.push(null); // a blob of the wrong length fails its digest check
        return;
      }
      const chunk = piece.chunks.shift();
      if (chunk !== undefined) {
        piece.buffered -= chunk.byteLength;
        this.taken += chunk.byteLength;
        this.owner.release(piece, chunk.byteLength);
        if (piece.buffered < piece.reserved && piece.body?.isPaused()) piece.body.resume();
        this.wanting = this.reader.push(chunk);
        continue;
      }
      if (piece.error !== undefined) return void this.reader.destroy(piece.error);
      if (!piece.ended) return;
      this.pieces.shift();
      this.owner.release(piece, piece.unreleased);
    }
  }
}
