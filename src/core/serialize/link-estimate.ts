const MiB = 1024 * 1024;
/** A big blob comes in pieces of this size until the link is measured. */
const FIRST_PIECE_BYTES = 4 * MiB;
const MIN_PIECE_BYTES = 1 * MiB;
const MAX_PIECE_BYTES = 8 * MiB;
/**
 * A piece lasts this many round trips at the rate one connection delivers: the connection then idles one round trip
 * in this many, between the end of a piece and the first byte of its next.
 */
const PIECE_ROUND_TRIPS = 8;
/** Responses shorter than this say too little about a connection's rate. */
const RATE_SAMPLE_BYTES = 256 * 1024;
/**
 * A connection this fast (200 MB/s) keeps up with the writer on its own: it hashes and writes a few hundred MB/s. One
 * to a loopback registry delivers 0.7 to 2 GB/s; one across the internet, what its round trip and the CDN's cap on a
 * stream allow (25 and 100 MB/s in `npm run bench:wan`'s profiles).
 */
const KEEPS_UP_BYTES_PER_MS = 200_000;

/**
 * What the link delivers, from the downloads' own timings: the shortest wait for an answer (a round trip, and the
 * server's time) and the best rate one response reached. Their product is what one connection has in flight.
 * Every time counts from the request's send, not from when its answer was read: a response read late (this thread
 * busy writing the tar) has its bytes waiting in the socket, and timed from its headers it looked as fast as
 * loopback, so blobs stopped coming in pieces (a 52 MB layer then took 2.2 s on one 25 MB/s connection).
 */
export class LinkEstimate {
  private roundTripMs: number | undefined;
  private bytesPerMs: number | undefined;

  /** A response's headers came `ms` after its request was sent. */
  answered(ms: number): void {
    this.roundTripMs = Math.min(this.roundTripMs ?? Infinity, ms);
  }

  /** One connection delivers faster than the writer takes bytes: a loopback or LAN registry. */
  keepsUpAlone(): boolean {
    return this.bytesPerMs !== undefined && this.bytesPerMs >= KEEPS_UP_BYTES_PER_MS;
  }

  /** A response of `bytes` ended `ms` after its request was sent: its rate, past the round trip. */
  delivered(bytes: number, ms: number): void {
    const transferMs = ms - (this.roundTripMs ?? 0);
    if (bytes >= RATE_SAMPLE_BYTES && transferMs > 0) this.bytesPerMs = Math.max(this.bytesPerMs ?? 0, bytes / transferMs);
  }

  /**
   * One connection delivers a quarter of what the writer takes or less (50 MB/s): far across the internet. Not a
   * loopback registry on a busy machine, whose first connections measure 100-200 MB/s.
   */
  slow(): boolean {
    return this.bytesPerMs !== undefined && 4 * this.bytesPerMs <= KEEPS_UP_BYTES_PER_MS;
  }

  /** PIECE_ROUND_TRIPS round trips of one connection's data, within bounds, and at most `largest`. */
  pieceBytes(largest: number): number {
    const measured =
      this.roundTripMs === undefined || this.bytesPerMs === undefined
        ? FIRST_PIECE_BYTES
        : PIECE_ROUND_TRIPS * this.roundTripMs * this.bytesPerMs;
    return Math.round(Math.max(MIN_PIECE_BYTES, Math.min(MAX_PIECE_BYTES, measured, largest)));
  }
}
