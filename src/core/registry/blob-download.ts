/**
 * A blob's body that survives a broken connection: when the response breaks (reset, closed early, silent past the
 * body timeout) it asks again from the byte where it broke, and goes on from exactly that byte, so its reader sees
 * one unbroken stream (and the digest check after it covers the whole blob). containerd's fetcher does the same;
 * like it, the bound is on tries in a row that got no further, so a long download survives many scattered breaks.
 */
import { Readable } from 'node:stream';
import { discard } from '../streams.ts';
import { isTransientError, retryDelayMs, waitBeforeRetry, type RetryPolicy } from './retry.ts';

/** Where the body comes from again: a response body that starts at `offset`, or `skip` bytes before it. */
export interface ResumeSource {
  /** `blob localhost:5000/tools@sha256:… for 000002-tools.tar`: what failure messages start with. */
  what: string;
  /** `GET http://localhost:5000/v2/tools/blobs/sha256:…`: the request retry events name. */
  request: string;
  size: number;
  retry: RetryPolicy;
  /** The blob from `offset` on: a Range request, or a whole one whose first `skip` bytes are to be dropped. */
  reopen(offset: number): Promise<{ body: Readable; skip: number }>;
  /** A network error as the transport words it (timeouts say which one). */
  describe(error: unknown): string;
}

/** A break worth resuming: the connection failed or timed out, or the body ended before the blob did. */
class EndedEarly extends Error {
  readonly code = 'ENDED_EARLY';
}

export class ResumingBody extends Readable {
  private readonly source: ResumeSource;
  private body: Readable | undefined;
  /** Bytes passed on: where the blob goes on from. */
  private offset = 0;
  /** Bytes of the current body still to drop (a server that ignored Range sends the blob from its start). */
  private skip = 0;
  /** Tries since the last one that got further, the one that did included. */
  private tries = 1;
  private progressed = false;

  constructor(first: Readable, source: ResumeSource) {
    super();
    this.source = source;
    this.attach(first, 0);
  }

  override _read(): void {
    this.body?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.body !== undefined) discard(this.body);
    this.body = undefined;
    callback(error);
  }

  private attach(body: Readable, skip: number): void {
    this.body = body;
    this.skip = skip;
    this.progressed = false;
    body.on('data', (chunk: Buffer) => {
      if (this.body !== body) return;
      if (this.skip > 0) {
        const dropped = Math.min(this.skip, chunk.byteLength);
        this.skip -= dropped;
        chunk = chunk.subarray(dropped);
        if (chunk.byteLength === 0) return;
      }
      this.offset += chunk.byteLength;
      this.progressed = true;
      if (!this.push(chunk)) body.pause();
    });
    body.on('end', () => {
      if (this.body !== body) return;
      if (this.offset >= this.source.size) {
        this.body = undefined;
        this.push(null);
      } else this.broke(body, new EndedEarly(`the body ended`));
    });
    body.on('error', (error) => {
      if (this.body === body) this.broke(body, error);
    });
  }

  private broke(body: Readable, error: Error): void {
    discard(body);
    this.body = undefined;
    if (this.destroyed) return;
    this.tries = this.progressed ? 1 : this.tries + 1;
    const { size, retry } = this.source;
    const where = `at byte ${this.offset} of ${size}`;
    const reason = error instanceof EndedEarly ? error.message : this.source.describe(error);
    const resumable = error instanceof EndedEarly || isTransientError(error);
    if (!resumable || this.tries >= retry.attempts) {
      const tries = resumable ? `, ${this.tries === 1 ? '1 try' : `${this.tries} tries in a row`} stopped there` : '';
      this.destroy(new Error(`${this.source.what}: download broke ${where}${tries}: ${this.source.request}: ${reason}`, { cause: error }));
      return;
    }
    void this.reconnect(`${reason} ${where}`);
  }

  private async reconnect(reason: string): Promise<void> {
    const delayMs = retryDelayMs(this.source.retry, this.tries, undefined);
    await waitBeforeRetry(this.source.retry, { what: this.source.request, attempt: this.tries, delayMs, reason });
    if (this.destroyed) return;
    let next: { body: Readable; skip: number };
    try {
      next = await this.source.reopen(this.offset);
    } catch (error) {
      const at = `at byte ${this.offset} of ${this.source.size}`;
      this.destroy(
        new Error(`${this.source.what}: download broke ${at} and could not be resumed: ${(error as Error).message}`, { cause: error }),
      );
      return;
    }
    if (this.destroyed) return discard(next.body);
    this.attach(next.body, next.skip);
  }
}
