import type { Readable } from 'node:stream';

/** Drops a stream we will not read (a response body, a tar entry); the abort's error is nobody's to hear. */
export function discard(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Reads a stream into memory, stopping (and dropping the rest) as soon as it runs past `limit` bytes. */
export async function readCapped(body: Readable, limit: number, tooLong: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > limit) {
      discard(body);
      throw tooLong();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
}
