/**
 * Blob downloads: the whole blob (digest-checked), or a part of it by Range (unchecked: whoever joins the parts checks
 * the blob). Either body survives a broken connection: when the response breaks (reset, closed early, silent past
 * the body timeout) it asks again from the byte where it broke, with a bounded Range to the end of what it carries,
 * and goes on from exactly that byte, so its reader sees one unbroken stream. containerd's fetcher does the same;
 * like it, the bound is on tries in a row that got no further, so a long download survives many scattered breaks.
 */
import { pipeline, Readable } from 'node:stream';
import { VerifyingStream } from '../oci/digest.ts';
import type { BlobPart } from '../oci/storage.ts';
import { discard } from '../streams.ts';
import { describeRequest } from './errors.ts';
import { requestRange, requestWhole, type BlobTarget } from './ranged-fetch.ts';
import { isTransientError, retryDelayMs, waitBeforeRetry, type RetryPolicy } from './retry.ts';
import type { Transport } from './transport.ts';

/** The whole blob as a stream that fails instead of ending when its content does not match the descriptor. */
export async function downloadBlob(transport: Transport, target: BlobTarget): Promise<Readable> {
  const body = resuming(transport, target, await requestWhole(transport, target), 0, target.descriptor.size - 1);
  // pipeline passes a broken download on to the verifier and a destroyed verifier back to the socket.
  return pipeline(body, new VerifyingStream(target.what, target.descriptor), () => undefined);
}

/**
 * Blob bytes `start` to `end` (inclusive) by a Range request. A server that sends the whole blob instead (200), or a
 * 206 that does not say it holds exactly those bytes, gets the blob as one stream: `whole`, from its first byte.
 */
export async function downloadBlobPart(transport: Transport, target: BlobTarget, start: number, end: number): Promise<BlobPart> {
  const answer = await requestRange(transport, target, start, end);
  const last = target.descriptor.size - 1;
  if (answer.kind === 'range') return { whole: false, body: resuming(transport, target, answer.body, start, end, start - answer.start) };
  const body = answer.kind === 'whole' ? answer.body : await requestWhole(transport, target);
  return { whole: true, body: resuming(transport, target, body, 0, last) };
}

function resuming(transport: Transport, target: BlobTarget, body: Readable, start: number, end: number, skip = 0): ResumingBody {
  return new ResumingBody(
    body,
    {
      what: target.what,
      request: describeRequest('GET', new URL(target.path, transport.origin)),
      size: target.descriptor.size,
      start,
      end,
      retry: transport.retry,
      reopen: (offset) => reopen(transport, target, offset, end),
      describe: (error) => transport.describe(error),
    },
    skip,
  );
}

/**
 * Bytes from `offset` to `end`, asked for the way the first GET went (redirects followed again, Authorization kept to
 * the registry's origin): a 206 from `offset` or before it (the extra bytes dropped), else the whole blob from a
 * fresh GET, its first `offset` bytes to be dropped.
 */
async function reopen(transport: Transport, target: BlobTarget, offset: number, end: number): Promise<{ body: Readable; skip: number }> {
  const answer = await requestRange(transport, target, offset, end);
  if (answer.kind === 'range') return { body: answer.body, skip: offset - answer.start };
  return { body: answer.kind === 'whole' ? answer.body : await requestWhole(transport, target), skip: offset };
}

/** Where the body comes from again: a response body that starts at blob byte `offset`, or `skip` bytes before it. */
export interface ResumeSource {
  /** `blob localhost:5000/tools@sha256:… for 000002-tools.tar`: what failure messages start with. */
  what: string;
  /** `GET http://localhost:5000/v2/tools/blobs/sha256:…`: the request retry events name. */
  request: string;
  /** The blob's size: messages count in bytes of the blob. */
  size: number;
  /** The blob bytes the body carries, `start` to `end` inclusive: 0 and size - 1 for the whole blob. */
  start: number;
  end: number;
  retry: RetryPolicy;
  /** The blob from `offset` to `end`: a Range request, or a whole one whose first `skip` bytes are to be dropped. */
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
  /** A part of the blob: a body may run on past its end (a whole blob sent for it), and what is past is not ours. */
  private readonly part: boolean;
  private body: Readable | undefined;
  /** The blob byte the body goes on from: those before it were passed on. */
  private position: number;
  /** Bytes of the current body still to drop (a server that ignored Range sends the blob from its start). */
  private skip = 0;
  /** Tries since the last one that got further, the one that did included. */
  private tries = 1;
  private progressed = false;

  constructor(first: Readable, source: ResumeSource, skip = 0) {
    super();
    this.source = source;
    this.part = source.end < source.size - 1;
    this.position = source.start;
    this.attach(first, skip);
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
      const past = this.part && chunk.byteLength > this.source.end + 1 - this.position;
      if (past) chunk = chunk.subarray(0, this.source.end + 1 - this.position);
      this.position += chunk.byteLength;
      if (chunk.byteLength > 0) this.progressed = true;
      const more = chunk.byteLength === 0 || this.push(chunk);
      if (past) {
        this.body = undefined;
        discard(body);
        this.push(null);
      } else if (!more) body.pause();
    });
    body.on('end', () => {
      if (this.body !== body) return;
      if (this.position > this.source.end) {
        this.body = undefined;
        // On the next turn, when undici has let go of the connection: a request sent as this one ends then reuses it
        // (warm, past TCP's slow start) instead of opening another, which a connection left idle would pay again.
        setImmediate(() => this.destroyed || this.push(null));
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
    const where = `at byte ${this.position} of ${size}`;
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
      next = await this.source.reopen(this.position);
    } catch (error) {
      const at = `at byte ${this.position} of ${this.source.size}`;
      this.destroy(
        new Error(`${this.source.what}: download broke ${at} and could not be resumed: ${(error as Error).message}`, { cause: error }),
      );
      return;
    }
    if (this.destroyed) return discard(next.body);
    this.attach(next.body, next.skip);
  }
}
