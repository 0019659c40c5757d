import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestHex, sha256 } from '../../src/core/oci/digest.ts';
import { runCli } from './support/cli.ts';
import { tree } from '../support/sync-dir-fixture.ts';
import { makeGather, makeImage, writeOciLayout, type ImageSet } from '../../testkit/images.ts';

const exec = promisify(execFile);
let dir: string;
let big: ImageSet;

// Compressed tars from 64 MiB on are compressed, hashed and written on a worker thread: the same promises hold.
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bs-large-'));
  big = makeGather([{ source: 'example.com/big:1', image: await makeImage('big', { layers: [40 << 20, 30 << 20] }) }]);
  await writeOciLayout(join(dir, 'store'), big.blobs, [{ descriptor: big.root, tag: 'v1' }]);
  await writeFile(join(dir, 'batch.csv'), `name,artifact\nbig,ocidir://${join(dir, 'store')}:v1\n`);
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe.each(['zstd', 'gzip'])('a %s tar over 64 MiB', (compression) => {
  const suffix = compression === 'zstd' ? 'zst' : 'gz';
  test('is byte-identical on every run, checks with sha256sum, and holds the plain tar', async () => {
    const syncs = [join(dir, `${compression}-a`), join(dir, `${compression}-b`), join(dir, `${compression}-plain`)];
    for (const [i, sync] of syncs.entries()) {
      const args = i < 2 ? ['--compression', compression] : [];
      const result = await runCli([join(dir, 'batch.csv'), sync, ...args]);
      expect(result.code, result.stderr).toBe(0);
    }
    const name = `000001-big.tar.${suffix}`;
    const [a, b] = await Promise.all(syncs.slice(0, 2).map((sync) => readFile(join(sync, name))));
    expect(a?.equals(b as Buffer)).toBe(true);
    await exec('sha256sum', ['-c', `batch-serialize/${name}.sha256`], { cwd: syncs[0] });
    const plain = await readFile(join(syncs[2] as string, '000001-big.tar'));
    const { stdout } = await exec('sh', ['-c', `${compression === 'zstd' ? 'zstd' : 'gzip'} -dc ${name} | sha256sum`], { cwd: syncs[0] });
    expect(stdout.split(' ')[0]).toBe(digestHex(sha256(plain)));
  }, 120_000);
});

test('a blob that fails its digest half way leaves no file behind', async () => {
  const store = join(dir, 'broken');
  const layer = [...big.blobs.entries()].find(([, bytes]) => bytes.byteLength > 30 << 20);
  if (!layer) throw new Error('no big layer');
  const damaged = new Map(big.blobs);
  const bytes = Buffer.from(layer[1]);
  bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 0xff;
  damaged.set(layer[0], bytes);
  await writeOciLayout(store, damaged, [{ descriptor: big.root, tag: 'v1' }]);
  await writeFile(join(dir, 'broken.csv'), `name,artifact\nbig,ocidir://${store}:v1\n`);
  const sync = join(dir, 'broken-sync');
  const result = await runCli([join(dir, 'broken.csv'), sync, '--compression', 'zstd']);
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(layer[0]);
  // No file: the side directory the partial tar was written in stays, empty.
  expect(await tree(sync)).toEqual(['batch-serialize']);
}, 120_000);
