/**
 * The delay line `npm run bench:wan` measures through: each connection pays the handshakes and a round trip before
 * its first byte, and carries at most its own rate, so that N connections carry N times one.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { request } from 'undici';
import { startDelayLine, type DelayLine } from '../../testkit/delay-line.ts';

const BYTES = 600_000;
const profile = { rttMs: 30, bytesPerSecond: 1_000_000 };
let server: Server;
let line: DelayLine;

beforeAll(async () => {
  const body = Buffer.alloc(BYTES, 7);
  server = createServer((req, res) => {
    const bytes = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('bytes') ?? BYTES);
    res.writeHead(200, { 'content-length': String(bytes) }).end(body.subarray(0, bytes));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  line = await startDelayLine(`127.0.0.1:${(server.address() as AddressInfo).port}`, profile);
});
afterAll(async () => {
  await line?.stop();
  await new Promise((resolve) => server?.close(resolve));
});

/** Fetches `bytes` on a connection of its own: when the first byte came and when the last did, in ms from the start. */
async function fetchOnce(bytes: number): Promise<{ firstByteMs: number; doneMs: number }> {
  const started = performance.now();
  const response = await request(`http://${line.host}/?bytes=${bytes}`, { reset: true });
  let firstByteMs = 0;
  let received = 0;
  for await (const chunk of response.body) {
    if (received === 0) firstByteMs = performance.now() - started;
    received += (chunk as Buffer).byteLength;
  }
  expect(received).toBe(bytes);
  return { firstByteMs, doneMs: performance.now() - started };
}

test('a new connection waits the handshakes and a round trip for its first byte', async () => {
  const { firstByteMs } = await fetchOnce(1000);
  expect(firstByteMs / profile.rttMs).toBeGreaterThanOrEqual(2.9); // TCP's and TLS's handshakes, then the request's round trip
});

test('each connection carries its own rate: twice the bytes take about twice as long, two connections as long as one', async () => {
  const half = await fetchOnce(BYTES / 2);
  const one = await fetchOnce(BYTES);
  const [first, second] = await Promise.all([fetchOnce(BYTES), fetchOnce(BYTES)]);
  const transfer = (timing: { firstByteMs: number; doneMs: number }) => timing.doneMs - timing.firstByteMs;
  expect(transfer(one) / transfer(half)).toBeGreaterThan(1.6);
  expect(Math.max(transfer(first), transfer(second)) / transfer(one)).toBeLessThan(1.4);
  expect(line.connections()).toBeGreaterThanOrEqual(5);
});
