import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { digestHex, DigestMismatchError, sha256 } from '../../src/core/oci/digest.ts';
import { readTarFile, TarReadError, type TarEntry } from '../../src/core/archive/tar-reader.ts';

const run = promisify(execFile);
let dir: string;
/** GNU tar, 512-byte records: the blobs, then exactly two zero blocks. */
let tar: string;
let blobs: Array<{ digest: string; bytes: Buffer }>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bs-reader-'));
  await mkdir(join(dir, 'layout', 'blobs', 'sha256'), { recursive: true });
  // Over 64 MiB in all, so the file is hashed on the worker thread.
  blobs = [9, 30, 30, 1].map((mib) => randomBytes(mib * 1024 * 1024 + 123)).map((bytes) => ({ digest: sha256(bytes), bytes }));
  for (const blob of blobs) await writeFile(join(dir, 'layout', 'blobs', 'sha256', digestHex(blob.digest)), blob.bytes);
  tar = join(dir, 'blobs.tar');
  await run('tar', ['-b', '1', '-cf', tar, '-C', join(dir, 'layout'), 'blobs']);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function sha256sum(path: string): Promise<string> {
  return `sha256:${(await run('sha256sum', [path])).stdout.split(' ')[0]}`;
}

test('a big GNU tar, plain and gzip: the file hashes as sha256sum says, every blob checked against its name', async () => {
  const gz = join(dir, 'blobs.tar.gz');
  await run('sh', ['-c', 'gzip -1 -c "$1" > "$2"', 'sh', tar, gz]);
  for (const [path, compression] of [
    [tar, 'none'],
    [gz, 'gzip'],
  ] as const) {
    const seen: TarEntry[] = [];
    const file = await readTarFile(path, async (entry, body) => {
      seen.push(entry);
      for await (const _ of body);
    });
    expect(file).toEqual({ compression, bytes: (await stat(path)).size, sha256: await sha256sum(path), tarBytes: (await stat(tar)).size });
    expect(seen.filter((e) => e.type === 'directory').map((e) => e.name)).toEqual(['blobs', 'blobs/sha256']);
    expect(seen.flatMap((e) => e.digest ?? []).sort()).toEqual(blobs.map((b) => b.digest).sort());
  }
});

test('a blob that does not hash to its name fails its body, and the read goes on', async () => {
  const bad = join(dir, 'bad.tar');
  const victim = blobs[3] as { digest: string; bytes: Buffer };
  const bytes = await readFile(tar);
  const at = bytes.indexOf(victim.bytes.subarray(0, 4096));
  bytes.writeUInt8(bytes.readUInt8(at + 10) ^ 1, at + 10);
  await writeFile(bad, bytes);
  const failures: string[] = [];
  await readTarFile(bad, async (_entry, body) => {
    try {
      for await (const _ of body);
    } catch (error) {
      expect(error).toBeInstanceOf(DigestMismatchError);
      failures.push((error as Error).message);
    }
  });
  expect(failures).toEqual([expect.stringMatching(new RegExp(`^blob ${victim.digest}: content does not match its descriptor`))]);
});

test('a tar cut at an entry boundary, or inside an entry, is an error naming the file', async () => {
  const cut = join(dir, 'cut.tar');
  await copyFile(tar, cut);
  await truncate(cut, (await stat(tar)).size - 1024);
  await expect(readTarFile(cut, async () => {})).rejects.toThrow(
    new RegExp(`^${cut}: the tar ends after \\d+ bytes without its end-of-archive blocks`),
  );
  await truncate(cut, 5 * 1024 * 1024);
  const error = await readTarFile(cut, async () => {}).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TarReadError);
  expect((error as Error).message).toMatch(
    new RegExp(`^${cut}: entry blobs/sha256/[a-f0-9]{64}: Unexpected end of data \\(the file is truncated\\)`),
  );
});
