import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { TarSource } from '../../src/core/archive/tar-source.ts';

/** Twenty parts of 100 bytes, each byte its part's number: more than TarSource holds open at once. */
const PARTS = 20;
let dir: string;
let paths: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tar-source-'));
  paths = Array.from({ length: PARTS }, (_, index) => join(dir, `000001-x.tar.part-${String(index + 1).padStart(3, '0')}`));
  await Promise.all(paths.map((path, index) => writeFile(path, Buffer.alloc(100, index))));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readAll(source: TarSource, start = 0, end = source.size): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source.stream(start, end, 64) as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('a tar in more parts than are held open at once', () => {
  test('reads as one file, from several streams at once', async () => {
    const source = await TarSource.open(join(dir, '000001-x.tar'), paths);
    try {
      const whole = Buffer.concat(paths.map((_, index) => Buffer.alloc(100, index)));
      const [all, middle, tail] = await Promise.all([readAll(source), readAll(source, 250, 1750), readAll(source, 1990)]);
      expect(all.equals(whole)).toBe(true);
      expect(middle.equals(whole.subarray(250, 1750))).toBe(true);
      expect(tail.equals(whole.subarray(1990))).toBe(true);
    } finally {
      await source.close();
    }
  });

  test('a part put in place of the one checked is never read, even of the same size', async () => {
    const source = await TarSource.open(join(dir, '000001-x.tar'), paths);
    try {
      const other = join(dir, 'other');
      await writeFile(other, Buffer.alloc(100, 0xff));
      await rename(other, paths[PARTS - 1] as string);
      const replaced = /000001-x\.tar: changed since it was checked: 000001-x\.tar\.part-020 is another file now/;
      await expect(readAll(source)).rejects.toThrow(replaced);
    } finally {
      await source.close();
    }
  });
});
