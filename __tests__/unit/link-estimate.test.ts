import { expect, test } from 'vitest';
import { LinkEstimate } from '../../src/core/serialize/link-estimate.ts';

const MiB = 1024 * 1024;

test('a connection seen to deliver 200 MB/s keeps up with the writer alone (loopback, LAN); a slower one does not', () => {
  const lan = new LinkEstimate();
  expect(lan.keepsUpAlone()).toBe(false); // nothing measured yet
  lan.delivered(8 * MiB, 20); // 419 MB/s
  expect(lan.keepsUpAlone()).toBe(true);

  const wan = new LinkEstimate();
  wan.delivered(8 * MiB, 335); // 25 MB/s, the first profile of npm run bench:wan
  expect(wan.keepsUpAlone()).toBe(false);
  wan.delivered(100 * 1024, 0.1); // too short a response to say anything of the rate
  expect(wan.keepsUpAlone()).toBe(false);
});

test('pieces last eight round trips of one connection, within 1 and 8 MiB and the largest asked for', () => {
  const link = new LinkEstimate();
  expect(link.pieceBytes(64 * MiB)).toBe(4 * MiB); // before any measure
  link.answered(40);
  link.delivered(4 * MiB, 40 + (4 * MiB) / 25_000); // 25 MB/s once the answer came
  expect(link.pieceBytes(64 * MiB)).toBe(8_000_000); // 8 x 40 ms x 25 MB/s
  link.delivered(4 * MiB, 44); // 1 GB/s: capped at 8 MiB
  expect(link.pieceBytes(64 * MiB)).toBe(8 * MiB);
  expect(link.pieceBytes(5 * MiB)).toBe(5 * MiB);
  link.answered(0.1); // the shortest round trip seen counts: 8 x 0.1 ms x 1 GB/s is 0.8 MB, under the least piece
  expect(link.pieceBytes(64 * MiB)).toBe(MiB);
});

test('rates count from the request, past the shortest round trip: an answer read late does not look fast', () => {
  const link = new LinkEstimate();
  link.answered(40);
  // Sent at 0, its headers read at 257 ms (this thread busy), its last byte at 267 ms: the bytes came over 227 ms.
  link.answered(257);
  link.delivered(3.5 * MiB, 267);
  expect(link.keepsUpAlone()).toBe(false);
  expect(link.slow()).toBe(true); // 16 MB/s
});
