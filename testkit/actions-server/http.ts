import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Reads a whole (small) request body; `limit` guards against a client streaming something unexpected. */
export async function readBody(req: IncomingMessage, limit = 1 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) throw new Error(`request body of ${req.method} ${req.url} is over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Consumes a body we refuse, so the client sees our answer rather than a reset while still sending. */
export async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req as AsyncIterable<Buffer>) void _;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': bytes.byteLength, ...headers });
  res.end(bytes);
}
