import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
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

function terminal(isTTY: boolean, columns?: number) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, columns, write: (chunk: string) => chunks.push(chunk) > 0 } };
}

/** What a redraw leaves on the screen: the text after `\r` and clear-to-end-of-line. */
const drawn = (chunk: string) => (chunk.startsWith('\r\x1b[K') ? chunk.slice('\r\x1b[K'.length) : chunk);

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

test('on a terminal: a bar redrawn in place, at most ten times a second, naming the artifact', () => {
  const { chunks, stream } = terminal(true, 120);
  const progress = progressReporter(stream);
  progress.tarStarted(tar);
  vi.setSystemTime(50);
  progress.progress(10 * MiB); // too soon to redraw
  vi.setSystemTime(1000);
  progress.progress(40 * MiB);
  expect(chunks).toEqual([
    `\r\x1b[K[${'-'.repeat(24)}] 000002-tools.tar localhost:5000/gather:sources2  0 B / 100.0 MiB (0%)  0 B/s`,
    `\r\x1b[K[${'#'.repeat(12)}${'-'.repeat(12)}] 000002-tools.tar localhost:5000/gather:sources2  50.0 MiB / 100.0 MiB (50%)  50.0 MiB/s`,
  ]);
});

describe('the bar fits the terminal: one column short of its width, so no redraw wraps', () => {
  const long = { ...tar, entry: { artifact: 'registry.example.com/team/project/very/deep/path/gather:sources2' } } as PlannedTar;

  function bars(columns: number | undefined, planned: PlannedTar = tar): string[] {
    vi.setSystemTime(0);
    const { chunks, stream } = terminal(true, columns);
    const progress = progressReporter(stream);
    progress.tarStarted(planned);
    for (const [second, bytes] of [
      [1, 1],
      [2, MiB - 1],
      [3, 30 * MiB],
      [50, 69 * MiB],
    ] as const) {
      vi.setSystemTime(second * 1000);
      progress.progress(bytes);
    }
    progress.tarRecorded(written);
    return chunks.filter((chunk) => chunk.startsWith('\r')).map(drawn);
  }

  test.each([undefined, 80, 100, 60, 40, 20, 1])('%s columns', (columns) => {
    for (const planned of [tar, long]) {
      const lines = bars(columns, planned);
      expect(lines.length).toBeGreaterThanOrEqual(5);
      for (const line of lines) {
        expect(line.length).toBeLessThan(columns ?? 80);
        if ((columns ?? 80) >= 40) expect(line).toContain('000002-tools.tar');
      }
    }
  });

  test('80 columns (also when the width is unknown): the narrowest bar, the artifact shortened in the middle, no rate', () => {
    expect(bars(undefined).at(-1)).toBe(`[${'#'.repeat(10)}] 000002-tools.tar localhost…:sources2  100.0 MiB / 100.0 MiB (100%)`);
    expect(bars(80)).toEqual(bars(undefined));
    expect(bars(80, long).at(-1)).toBe(`[${'#'.repeat(10)}] 000002-tools.tar registry.…:sources2  100.0 MiB / 100.0 MiB (100%)`);
  });

  test('wider: the whole artifact, then the rate, then a bar of 24 cells', () => {
    expect(bars(100).at(-1)).toBe(`[${'#'.repeat(10)}] 000002-tools.tar localhost:5000/gather:sources2  100.0 MiB / 100.0 MiB (100%)`);
    expect(bars(110).at(-1)).toBe(
      `[${'#'.repeat(18)}] 000002-tools.tar localhost:5000/gather:sources2  100.0 MiB / 100.0 MiB (100%)  2.0 MiB/s`,
    );
    expect(bars(120).at(-1)).toBe(
      `[${'#'.repeat(24)}] 000002-tools.tar localhost:5000/gather:sources2  100.0 MiB / 100.0 MiB (100%)  2.0 MiB/s`,
    );
  });

  test('narrow: the artifact goes, then the bar', () => {
    expect(bars(60).at(-1)).toBe(`[${'#'.repeat(10)}] 000002-tools.tar  100.0 MiB / 100.0 MiB (100%)`);
    expect(bars(50).at(-1)).toBe('000002-tools.tar  100.0 MiB / 100.0 MiB (100%)');
    expect(bars(20).at(-1)).toBe('000002-tools.tar  1');
  });

  test('a terminal resized mid-tar: the next redraw fits the new width', () => {
    const { chunks, stream } = terminal(true, 200);
    const progress = progressReporter(stream);
    progress.tarStarted(tar);
    stream.columns = 60;
    vi.setSystemTime(1000);
    progress.progress(MiB);
    expect(drawn(chunks[0]!).length).toBeGreaterThan(80);
    expect(drawn(chunks[1]!).length).toBeLessThan(60);
  });
});

test('a line while references resolve, and retries on a line of their own, the bar drawn again below', () => {
  const log = terminal(false);
  const ci = progressReporter(log.stream);
  ci.resolving(12);
  ci.resolving(1);
  const retry = { what: 'GET http://r.example/v2/x/blobs/sha256:ab', attempt: 1, delayMs: 500, reason: 'read ECONNRESET' };
  ci.retrying(retry);
  expect(log.chunks).toEqual([
    'resolving 12 artifacts…\n',
    'resolving 1 artifact…\n',
    'GET http://r.example/v2/x/blobs/sha256:ab: read ECONNRESET, trying again in 500 ms\n',
  ]);

  const tty = terminal(true, 120);
  const live = progressReporter(tty.stream);
  live.resolving(3);
  live.tarStarted(tar);
  live.retrying(retry);
  expect(tty.chunks.map(drawn)).toEqual([
    'resolving 3 artifacts…\n',
    `[${'-'.repeat(24)}] 000002-tools.tar localhost:5000/gather:sources2  0 B / 100.0 MiB (0%)  0 B/s`,
    'GET http://r.example/v2/x/blobs/sha256:ab: read ECONNRESET, trying again in 500 ms\n',
    `[${'-'.repeat(24)}] 000002-tools.tar localhost:5000/gather:sources2  0 B / 100.0 MiB (0%)  0 B/s`,
  ]);
});
