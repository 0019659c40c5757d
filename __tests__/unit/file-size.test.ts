import { describe, expect, test } from 'vitest';
import { MIN_FILE_SIZE, parseFileSize } from '../../src/core/setting-values.ts';
import { parsePartName, partName } from '../../src/core/sync-dir/sync-name.ts';

describe('--max-file-size SIZE (docs/formats.md "File names")', () => {
  test.each(
    [
      ['65536', 65536],
      ['4700M', 4_700_000_000],
      ['4.7G', 4_700_000_000],
      ['4.7GB', 4_700_000_000],
      ['650MB', 650_000_000],
      ['2GiB', 2 * 1024 ** 3],
      ['2gib', 2 * 1024 ** 3],
      ['64KiB', 64 * 1024],
      ['1.5Mi', 1_572_864],
      [String(MIN_FILE_SIZE), MIN_FILE_SIZE],
      ['1T', 1e12],
      ['100MiB', 100 * 1024 ** 2],
      [' 1G ', 1e9],
    ].filter(([, bytes]) => bytes !== 0),
  )('%s is %d bytes', (text, bytes) => {
    expect(parseFileSize('--max-file-size', text as string)).toBe(bytes);
  });

  test.each([
    ['', 'not a size'],
    ['G', 'not a size'],
    ['-1G', 'not a size'],
    ['1 GB B', 'not a size'],
    ['4.7', 'a whole number of bytes'],
    ['1.5Ki', 'less than the smallest part, 65536 bytes'],
    ['65535', 'less than the smallest part'],
    ['63KiB', 'less than the smallest part'],
    ['1P', 'not a size'],
    ['99999999999T', 'too large'],
  ])('%j is refused: %s', (text, why) => {
    expect(() => parseFileSize('input max-file-size', text)).toThrow(`input max-file-size ${JSON.stringify(text)}: ${why}`);
  });
});

describe('part names', () => {
  test('three digits, more from 1000 on; one spelling per part', () => {
    expect(partName('000003-tools.tar', 1)).toBe('000003-tools.tar.part-001');
    expect(partName('000003-tools.tar.zst', 1000)).toBe('000003-tools.tar.zst.part-1000');
    expect(parsePartName('000003-tools.tar.part-002')).toEqual({ syncName: '000003-tools.tar', index: 2 });
    expect(parsePartName('000003-tools.tar.gz.part-1000')).toEqual({ syncName: '000003-tools.tar.gz', index: 1000 });
    for (const name of [
      '000003-tools.tar.part-02',
      '000003-tools.tar.part-0002',
      '000003-tools.tar.part-000',
      'tools.tar.part-001',
      '000003-tools.tar',
    ]) {
      expect(parsePartName(name)).toBeUndefined();
    }
  });
});
