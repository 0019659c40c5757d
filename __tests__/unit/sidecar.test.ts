import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeEach, describe, expect, test } from 'vitest';
import { checkSidecar, writeSidecar } from '../../src/core/archive/sidecar.ts';

const SHA = 'sha256:' + 'c'.repeat(64);
let tar: string;

beforeEach(async () => {
  tar = join(await mkdtemp(join(tmpdir(), 'sidecar-')), '000001-tools.tar.zst');
});

describe('the .sha256 sidecar (docs/formats.md "Checksums")', () => {
  test('is one sha256sum line in the side directory naming the tar by its base name (`sha256sum -c` from the sync directory)', async () => {
    const sidecar = join(dirname(tar), 'batch-serialize', '000001-tools.tar.zst.sha256');
    expect(await writeSidecar(tar, SHA)).toBe(sidecar);
    expect(await readFile(sidecar, 'utf8')).toBe(`${'c'.repeat(64)}  000001-tools.tar.zst\n`);
    expect(await checkSidecar(tar, SHA)).toEqual({ state: 'match' });
  });

  test("a missing sidecar is no failure (ace-dt writes none); one beside the tar (older layout) and sha256sum's * are read", async () => {
    expect(await checkSidecar(tar, SHA)).toEqual({ state: 'missing' });
    await writeFile(`${tar}.sha256`, `${'c'.repeat(64)} *000001-tools.tar.zst\n`);
    expect(await checkSidecar(tar, SHA)).toEqual({ state: 'match' });
  });

  test('the side directory wins over an older sidecar beside the tar', async () => {
    await writeFile(`${tar}.sha256`, `${'d'.repeat(64)}  000001-tools.tar.zst\n`);
    await writeSidecar(tar, SHA);
    expect(await checkSidecar(tar, SHA)).toEqual({ state: 'match' });
  });

  const mismatches: Array<[string, string, RegExp]> = [
    ['another hash', `${'d'.repeat(64)}  000001-tools.tar.zst\n`, /says sha256 d{64}, the file hashes to c{64}/],
    ['another file', `${'c'.repeat(64)}  000002-tools.tar.zst\n`, /names "000002-tools.tar.zst", not 000001-tools.tar.zst/],
    ['two lines', `${'c'.repeat(64)}  000001-tools.tar.zst\n${'c'.repeat(64)}  x\n`, /is not one sha256sum line/],
    ['a short hash', `${'c'.repeat(63)}  000001-tools.tar.zst\n`, /is not one sha256sum line/],
  ];
  test.each(mismatches)('names what is wrong when it holds %s', async (_what, text, reason) => {
    await mkdir(join(dirname(tar), 'batch-serialize'));
    await writeFile(join(dirname(tar), 'batch-serialize', '000001-tools.tar.zst.sha256'), text);
    const check = await checkSidecar(tar, SHA);
    expect(check.state).toBe('mismatch');
    expect(check.state === 'mismatch' && check.reason).toMatch(reason);
  });
});
