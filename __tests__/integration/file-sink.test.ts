import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { zstdDecompressSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { fileSink, partsSink } from '../../src/core/archive/file-sink.ts';

const MiB = 1024 * 1024;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bs-file-sink-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** `count` chunks of 1 MiB, each filled with its index. */
function chunks(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(MiB, i));
}

/** Every FileHandle's datasync from now on (the test's end restores it), counted, or failing with `failure`. */
async function watchDatasyncs(failure?: NodeJS.ErrnoException): Promise<() => number> {
  const probe = await open(join(dir, 'probe'), 'w');
  const prototype = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  const datasync = prototype.datasync;
  const spy = vi.spyOn(prototype, 'datasync').mockImplementation(function (this: FileHandle) {
    return failure === undefined ? datasync.call(this) : Promise.reject(failure);
  });
  return () => spy.mock.calls.length;
}

const eio = () => Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });

afterEach(() => vi.restoreAllMocks());

describe.each(['none', 'zstd'] as const)('a file sink, compression %s', (compression) => {
  // 100 MiB: past the size from which a compressed tar is written on a worker thread (file-sink.ts, WORKER_THRESHOLD).
  const options = { compression, expectedBytes: 100 * MiB };

  test('flushes the file while it is written, and the file is whole', async () => {
    const path = join(dir, `flushed-${compression}`);
    const datasyncs = await watchDatasyncs();
    const handle = await open(path, 'wx');
    const data = chunks(100);
    const sink = fileSink(handle, options);
    await pipeline(Readable.from(data), ...sink.stages);
    await handle.close();
    expect(datasyncs()).toBeGreaterThanOrEqual(2);
    const written = await readFile(path);
    const sha256 = 'sha256:' + createHash('sha256').update(written).digest('hex');
    expect(sink.written()).toEqual({ bytes: written.byteLength, sha256 });
    const tar = compression === 'none' ? written : zstdDecompressSync(written);
    expect(tar.equals(Buffer.concat(data))).toBe(true);
  });

  test('fails when a flush while writing fails, though the fsync at the end passes', async () => {
    await watchDatasyncs(eio());
    const handle = await open(join(dir, `failed-${compression}`), 'wx');
    const sink = fileSink(handle, options);
    await expect(pipeline(Readable.from(chunks(100)), ...sink.stages)).rejects.toThrow('EIO');
    await handle.close();
  });
});

describe('a tar written in parts', () => {
  const target = (name: string) => ({ partBytes: 64 * MiB, partPath: (n: number) => join(dir, `${name}.part-${n}`) });
  const options = { compression: 'none', expectedBytes: 100 * MiB } as const;

  test('each part is flushed while it is written, and the parts are whole', async () => {
    const datasyncs = await watchDatasyncs();
    const data = chunks(100);
    const sink = partsSink(target('parts'), options);
    await pipeline(Readable.from(data), ...sink.stages);
    expect(datasyncs()).toBeGreaterThanOrEqual(2);
    const parts = await Promise.all(sink.parts().map((part) => readFile(part.path)));
    expect(parts.map((part) => part.byteLength)).toEqual([64 * MiB, 36 * MiB]);
    expect(Buffer.concat(parts).equals(Buffer.concat(data))).toBe(true);
  });

  test('a flush that fails while a part is written fails the tar', async () => {
    await watchDatasyncs(eio());
    const sink = partsSink(target('failed'), options);
    await expect(pipeline(Readable.from(chunks(100)), ...sink.stages)).rejects.toThrow('EIO');
    await sink.remove();
  });
});
