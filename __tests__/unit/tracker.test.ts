import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { formatTracker, newestRow, nextNumber, parseTracker, readTracker, writeTracker } from '../../src/core/sync-dir/tracker.ts';
import { syncName } from '../../src/core/sync-dir/sync-name.ts';

const A = 'sha256:' + 'a'.repeat(64);
const B = 'sha256:' + 'b'.repeat(64);

describe('tracker record-keeping.csv (docs/formats.md)', () => {
  test("reads ace-dt's tutorial tracker", () => {
    const text =
      `sync_name,artifact,digest\n000001-tools.tar,localhost:5000/gather:sources1,${A}\n` +
      `000002-tools.tar.zst,localhost:5000/gather:sources2,${B}\n`;
    const rows = parseTracker(text, 'rk.csv');
    expect(rows).toEqual([
      { syncName: '000001-tools.tar', number: 1, name: 'tools', artifact: 'localhost:5000/gather:sources1', digest: A },
      { syncName: '000002-tools.tar.zst', number: 2, name: 'tools', artifact: 'localhost:5000/gather:sources2', digest: B },
    ]);
    expect(formatTracker(rows)).toBe(text);
  });

  test('names with - and . parse back; quoting only when needed', () => {
    const rows = [
      { syncName: syncName(12, 'my-tools.v2', 'gzip'), number: 12, name: 'my-tools.v2', artifact: 'ocidir://a,b:1', digest: A },
    ];
    expect(rows[0]?.syncName).toBe('000012-my-tools.v2.tar.gz');
    const text = formatTracker(rows);
    expect(text).toBe(`sync_name,artifact,digest\n000012-my-tools.v2.tar.gz,"ocidir://a,b:1",${A}\n`);
    expect(parseTracker(text, 'rk.csv')).toEqual(rows);
  });

  test('next number is the maximum + 1, not the last row + 1', () => {
    const rows = parseTracker(`sync_name,artifact,digest\n000007-a.tar,x/a:1,${A}\n000003-b.tar,x/b:1,${B}\n`, 'rk.csv');
    expect(nextNumber(rows)).toBe(8);
    expect(nextNumber([])).toBe(1);
    expect(newestRow(rows, 'a')?.digest).toBe(A);
    expect(newestRow(rows, 'c')).toBeUndefined();
  });

  test.each([
    [`sync_name, artifact, digest\n`, /rk\.csv:1: damaged tracker: the header must be exactly sync_name,artifact,digest/],
    [`sync_name,artifact,digest\ntools.tar,x/a:1,${A}\n`, /rk\.csv:2: damaged tracker: sync_name "tools\.tar"/],
    [`sync_name,artifact,digest\n000001-a.tar,x/a:1,sha256:abc\n`, /rk\.csv:2: damaged tracker: bad digest/],
    [`sync_name,artifact,digest\n000001-a.tar,x/a:1\n`, /rk\.csv:2: damaged tracker: expected 3 columns/],
  ])('damaged tracker %#: error names file and line', (text, message) => {
    expect(() => parseTracker(text, 'rk.csv')).toThrow(message);
  });

  test('missing file is a first run; writes replace atomically and leave no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bs-tracker-'));
    const path = join(dir, 'record-keeping.csv');
    expect(await readTracker(path)).toEqual([]);
    await writeTracker(path, [{ syncName: '000001-a.tar', number: 1, name: 'a', artifact: 'x/a:1', digest: A }]);
    expect(await readFile(path, 'utf8')).toBe(`sync_name,artifact,digest\n000001-a.tar,x/a:1,${A}\n`);
    expect(await readdir(dir)).toEqual(['record-keeping.csv']);
  });
});
