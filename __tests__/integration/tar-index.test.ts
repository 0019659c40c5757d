/**
 * indexPlainTar against GNU tar's formats (gnu, pax, ustar with a prefix, v7) and tar-stream's (ours): every file's
 * bytes are where the index says, names cleaned as the tar reader cleans them.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { pack as createPack } from 'tar-stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { indexPlainTar } from '../../src/core/archive/tar-index.ts';
import { seededBytes } from '../../testkit/images.ts';

const exec = promisify(execFile);
let work: string;
/** name → content: short names, one of 140 characters (past ustar's 100), an empty file, one past a block. */
const files = new Map<string, Uint8Array>([
  ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
  ['blobs/sha256/' + 'a'.repeat(64), seededBytes('a', 1500)],
  [`deep/${'d'.repeat(60)}/${'e'.repeat(60)}/file-${'f'.repeat(10)}`, seededBytes('deep', 700)],
  ['empty', new Uint8Array(0)],
  ['blobs/sha256/' + 'b'.repeat(64), seededBytes('b', 512)],
]);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bs-tar-index-'));
  for (const [name, bytes] of files) {
    await mkdir(dirname(join(work, 'tree', name)), { recursive: true });
    await writeFile(join(work, 'tree', name), bytes);
  }
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function expectIndexed(tar: string, names: Iterable<string>): Promise<void> {
  const handle = await open(tar);
  try {
    const members = await indexPlainTar(handle, tar);
    const whole = await readFile(tar);
    for (const name of names) {
      const member = members.get(name);
      expect(member, name).toBeDefined();
      const { offset, size } = member as { offset: number; size: number };
      expect(Buffer.from(whole.subarray(offset, offset + size)).equals(Buffer.from(files.get(name) as Uint8Array)), name).toBe(true);
    }
  } finally {
    await handle.close();
  }
}

test.each(['gnu', 'posix', 'oldgnu'])('GNU tar --format=%s, long names included', async (format) => {
  const tar = join(work, `${format}.tar`);
  await exec('tar', [`--format=${format}`, '-cf', tar, '-C', join(work, 'tree'), ...files.keys()]);
  await expectIndexed(tar, files.keys());
});

test('GNU tar --format=ustar (a long path split into prefix and name) and v7, with ./ before the names', async () => {
  const short = [...files.keys()].filter((name) => name.length <= 99);
  for (const format of ['ustar', 'v7']) {
    const tar = join(work, `${format}.tar`);
    const names = format === 'ustar' ? [...files.keys()] : short;
    await exec('tar', [`--format=${format}`, '-cf', tar, '-C', join(work, 'tree'), ...names.map((name) => `./${name}`)]);
    await expectIndexed(tar, names);
  }
});

test('tar-stream, as our serializer writes, with directories and a pax header', async () => {
  const pack = createPack();
  pack.entry({ name: 'blobs', type: 'directory' });
  for (const [name, bytes] of files) pack.entry({ name, size: bytes.byteLength, pax: { comment: 'x' } }, Buffer.from(bytes));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const tar = join(work, 'tar-stream.tar');
  await writeFile(tar, Buffer.concat(chunks));
  await expectIndexed(tar, files.keys());
});

test("a size in GNU's base-256 (as for members past 8 GiB) is read", async () => {
  const tar = join(work, 'base256.tar');
  await exec('tar', ['--format=gnu', '-cf', tar, '-C', join(work, 'tree'), 'oci-layout', 'empty']);
  const bytes = await readFile(tar);
  const size = files.get('oci-layout')?.byteLength as number;
  bytes.fill(0, 124, 136);
  bytes[124] = 0x80;
  bytes.writeUInt32BE(size, 132);
  bytes.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += bytes[i] as number;
  bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  await writeFile(tar, bytes);
  await expectIndexed(tar, ['oci-layout', 'empty']);
});

test('a truncated tar and a file that is no tar say so, naming the file', async () => {
  const whole = await readFile(join(work, 'gnu.tar'));
  const cut = join(work, 'cut.tar');
  await writeFile(cut, whole.subarray(0, 700));
  const notTar = join(work, 'not.tar');
  await writeFile(notTar, Buffer.alloc(1024, 'x'));
  for (const [path, message] of [
    [cut, /cut\.tar: ends inside the header at byte \d+ \(truncated\?\)/],
    [notTar, /not\.tar: the header at byte 0 is not a tar header \(bad checksum\)/],
  ] as const) {
    const handle = await open(path);
    await expect(indexPlainTar(handle, path)).rejects.toThrow(message);
    await handle.close();
  }
});
