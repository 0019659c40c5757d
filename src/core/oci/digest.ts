import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

export function assertDigest(value: string, where: string): string {
  if (!isDigest(value)) throw new Error(`${where}: not a sha256 digest: ${JSON.stringify(value)}`);
  return value;
}

export function sha256(bytes: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export function digestHex(digest: string): string {
  return digest.slice('sha256:'.length);
}

export class DigestMismatchError extends Error {
  constructor(what: string, expected: { digest: string; size: number }, actual: { digest: string; size: number }) {
    super(
      `${what}: content does not match its descriptor ` +
        `(expected ${expected.digest} ${expected.size} bytes, got ${actual.digest} ${actual.size} bytes)`,
    );
    this.name = 'DigestMismatchError';
  }
}

/** Verifies bytes held in memory (manifests) against their descriptor. */
export function verifyBytes(what: string, bytes: Uint8Array, expected: { digest: string; size: number }): void {
  const actual = { digest: sha256(bytes), size: bytes.byteLength };
  if (actual.size !== expected.size || actual.digest !== expected.digest) {
    throw new DigestMismatchError(what, expected, actual);
  }
}

/**
 * Passes bytes through while hashing them; fails the stream at its end (or as soon as it runs long)
 * when the content does not match, so a bad blob never completes a file.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private readonly what: string;
  private readonly expected: { digest: string; size: number };
  private seen = 0;

  constructor(what: string, expected: { digest: string; size: number }) {
    super();
    this.what = what;
    this.expected = expected;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.byteLength;
    if (this.seen > this.expected.size) {
      done(new DigestMismatchError(this.what, this.expected, { digest: 'unknown (too long)', size: this.seen }));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const actual = { digest: 'sha256:' + this.hash.digest('hex'), size: this.seen };
    if (actual.size !== this.expected.size || actual.digest !== this.expected.digest) {
      done(new DigestMismatchError(this.what, this.expected, actual));
      return;
    }
    done();
  }
}
