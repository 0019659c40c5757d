import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import type { PlannedTar } from '../../src/core/serialize/planner.ts';
import { progressReporter } from '../../src/core/serialize/progress.ts';
import type { WrittenTar } from '../../src/core/serialize/write-tars.ts';

const MiB = 1024 * 1024;
const tar = {
  syncName: '000002-tools.tar',
  contentBytes: 100 * MiB,
  blobs: [{}, {}],
  entry: { artifact: 'localhost:5000/gather:sources2' },
} as unknown as PlannedTar;
const written = { syncName: '000002-tools.tar', bytes: 100 * MiB } as WrittenTar;

function terminal(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, write: (chunk: string) => chunks.push(chunk) > 0 } };
}

beforeEach(() => vi.useFakeTimers({ now: 0 }));
afterEach(() => vi.useRealTimers());

test('in a CI log: a line when a tar starts, one every 5 s with bytes, percent and rate, one when recorded', () => {
  const { chunks, stream } = terminal(false);
  const progress = progressReporter(stream);
  progress.tarStarted(tar);
  for (let second = 1; second <= 10; second++) {
    vi.setSystemTime(second * 1000);
    progress.progress(5 * MiB);
  }
  progress.tarRecorded(written);
  expect(chunks).toEqual([
    '000002-tools.tar: localhost:5000/gather:sources2, 2 blobs, 100.0 MiB to write\n',
    '  000002-tools.tar  25.0 MiB / 100.0 MiB (25%)  5.0 MiB/s\n',
    '  000002-tools.tar  50.0 MiB / 100.0 MiB (50%)  5.0 MiB/s\n',
    '000002-tools.tar: done, 100.0 MiB in 10.0 s, recorded\n',
  ]);
});

test('on a terminal: a bar redrawn in place, at most ten times a second', () => {
  const { chunks, stream } = terminal(true);
  const progress = progressReporter(stream);
  progress.tarStarted(tar);
  vi.setSystemTime(50);
  progress.progress(10 * MiB); // too soon to redraw
  vi.setSystemTime(1000);
  progress.progress(40 * MiB);
  expect(chunks).toEqual([
    `\r\x1b[K[${'-'.repeat(24)}] 000002-tools.tar  0 B / 100.0 MiB (0%)  0 B/s`,
    `\r\x1b[K[${'#'.repeat(12)}${'-'.repeat(12)}] 000002-tools.tar  50.0 MiB / 100.0 MiB (50%)  50.0 MiB/s`,
  ]);
});
