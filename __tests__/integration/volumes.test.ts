import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI, runCli, type CliResult } from './support/cli.ts';
import { runCliUntil, snapshot } from './support/crash.ts';
import { digestsOf, fetchGraph, repositoriesWithManifests, resolveTag } from '../../testkit/far-registry.ts';
import { pushImageSet, tutorialImages, type TutorialImages } from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

/**
 * `--max-file-size`: tars written as parts (docs/formats.md, "File names"), read back by verify and deserialize as
 * one stream, joined by cat into the ordinary tar, and named precisely when a part is missing or damaged.
 */
const exec = promisify(execFile);
const PART = 64 * 1024;
let source: RunningRegistry;
let far: RunningRegistry;
let images: TutorialImages;
let work: string;
let batch: string;
let env: NodeJS.ProcessEnv;
/** An uninterrupted run per compression: the reference the copies below start from. */
const reference = new Map<string, string>();

beforeAll(async () => {
  [source, far] = await Promise.all([startRegistry(), startRegistry()]);
  // About 2.4 MB of incompressible layers: sources1's tar comes as a few dozen parts of 64 KiB.
  images = await tutorialImages({ layerScale: 40 });
  await pushImageSet(source.url, 'gather', 'sources1', images.sources1);
  await pushImageSet(source.url, 'gather', 'sources2', images.sources2);
  work = await mkdtemp(join(tmpdir(), 'bs-volumes-'));
  env = { ...process.env, NODE_COMPILE_CACHE: join(work, 'compile-cache') };
  batch = join(work, 'batch.csv');
  await writeFile(batch, `name,artifact\nops,${source.host}/gather:sources1\ntools,${source.host}/gather:sources2\n`);
  for (const compression of ['none', 'zstd']) {
    const sync = join(work, `reference-${compression}`);
    const result = await runCli([batch, sync, '--compression', compression, '--max-file-size', '64KiB'], { env });
    expect(result.code, result.stderr).toBe(0);
    reference.set(compression, sync);
  }
});
afterAll(async () => {
  await Promise.all([source?.stop(), far?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

let copies = 0;
async function copyOf(compression: string): Promise<string> {
  const sync = join(work, `copy-${++copies}`);
  await cp(reference.get(compression) as string, sync, { recursive: true });
  return sync;
}

const partsOf = async (sync: string, syncName: string) =>
  (await readdir(sync)).filter((name) => name.startsWith(`${syncName}.part-`)).sort();

describe('a tar over --max-file-size is written as parts', () => {
  test.each(['none', 'zstd'])(
    '%s: parts of exactly SIZE, one sidecar, sha256sum -c, cat | tar t, verify, deserialize',
    async (compression) => {
      const sync = reference.get(compression) as string;
      const suffix = compression === 'none' ? '.tar' : '.tar.zst';
      const ops = `000001-ops${suffix}`;
      const parts = await partsOf(sync, ops);
      expect(parts.length).toBeGreaterThan(3);
      expect(parts[0]).toBe(`${ops}.part-001`);
      const sizes = await Promise.all(parts.map(async (part) => (await stat(join(sync, part))).size));
      expect(sizes.slice(0, -1)).toEqual(sizes.slice(0, -1).map(() => PART));
      expect(sizes.at(-1)).toBeLessThanOrEqual(PART);
      // No whole file, no leftovers; the sidecar lists every part, and coreutils checks them all from the sync directory.
      expect((await readdir(sync)).filter((name) => !name.includes('.part-')).sort()).toEqual(['batch-serialize', 'record-keeping.csv']);
      const sidecar = await readFile(join(sync, 'batch-serialize', `${ops}.sha256`), 'utf8');
      expect(
        sidecar
          .trim()
          .split('\n')
          .map((line) => line.split('  ')[1]),
      ).toEqual(parts);
      const checked = await exec('sh', ['-c', 'sha256sum -c batch-serialize/*.sha256'], { cwd: sync });
      expect(checked.stdout).toContain(`${ops}.part-001: OK`);
      // The ledger keeps the whole file's facts and the part count.
      const ledger = (await readFile(join(sync, 'batch-serialize', 'record-keeping.ledger.jsonl'), 'utf8')).trim().split('\n');
      const joined = Buffer.concat(await Promise.all(parts.map((part) => readFile(join(sync, part)))));
      const first = JSON.parse(ledger[0] as string) as { syncName: string; tar: { bytes: number; parts: number } };
      expect(first).toMatchObject({ syncName: ops, tar: { bytes: joined.byteLength, parts: parts.length } });
      // cat joins them into the ordinary tar, which GNU tar lists.
      const listed = await exec('sh', ['-c', `cat ${ops}.part-* | tar t${compression === 'zstd' ? ' --zstd' : ''}`], { cwd: sync });
      expect(listed.stdout.split('\n').slice(0, 4)).toEqual(['oci-layout', 'index.json', 'blobs', 'blobs/sha256']);

      const verified = await runCli(['verify', sync], { env });
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      expect(verified.stdout).toMatch(/everything checks out/);
      // Loaded from a copy: the reference stays as serialize left it.
      const loaded = await runCli(['deserialize', await copyOf(compression), `${far.host}/${compression}`], { env });
      expect(loaded.code, loaded.stderr).toBe(0);
      expect(await resolveTag(far.url, `${compression}/ops`, 'sources1')).toBe(images.sources1.root.digest);
      expect(await fetchGraph(far.url, `${compression}/ops`, 'sources1')).toEqual(digestsOf(images.sources1));
      expect(await fetchGraph(far.url, `${compression}/tools`, 'sources2')).toEqual(digestsOf(images.sources2));
    },
  );

  test('the same input gives the same parts, byte for byte', async () => {
    for (const compression of ['none', 'zstd']) {
      const again = join(work, `again-${compression}`);
      const result = await runCli([batch, again, '--compression', compression, '--max-file-size', '64KiB'], { env });
      expect(result.code, result.stderr).toBe(0);
      expect(await snapshot(again)).toEqual(await snapshot(reference.get(compression) as string));
    }
  });

  test('a tar that fits in SIZE is written as one file, as without the option', async () => {
    const sync = join(work, 'fits');
    const result = await runCli([batch, sync, '--max-file-size', '1GiB'], { env });
    expect(result.code, result.stderr).toBe(0);
    const plain = join(work, 'plain');
    expect((await runCli([batch, plain], { env })).code).toBe(0);
    expect(await snapshot(sync)).toEqual(await snapshot(plain));
  });

  test('bad sizes are usage errors naming the option and the value', async () => {
    const result = await runCli([batch, join(work, 'bad'), '--max-file-size', '1000']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--max-file-size "1000": less than the smallest part, 65536 bytes/);
    const shard = await runCli(['serialize', '--shard', '1', '--plan', 'x.json', join(work, 'bad'), '--max-file-size', '1G']);
    expect(shard.code).toBe(2);
    expect(shard.stderr).toMatch(/--max-file-size: a shard writes with its plan's settings/);
  });
});

describe('verify and deserialize name what is wrong with the parts, and push nothing of that tar', () => {
  async function expectRefused(sync: string, destination: string, message: RegExp): Promise<void> {
    const verified = await runCli(['verify', sync], { env });
    expect(verified.code).toBe(1);
    expect(verified.stdout + verified.stderr).toMatch(message);
    const loaded = await runCli(['deserialize', sync, `${far.host}/${destination}`], { env });
    expect(loaded.code).toBe(1);
    expect(loaded.stderr).toMatch(/000001-ops\.tar: refused, the tar is damaged \(no manifest or tag of it was pushed\)/);
    expect(loaded.stderr).toMatch(message);
    // No manifest, no tag; a damaged part is found as it is read, so blobs before it may have gone up unreferenced.
    expect(await repositoriesWithManifests(far, `${destination}/`)).toEqual([]);
  }

  test('a missing part', async () => {
    const sync = await copyOf('none');
    const parts = await partsOf(sync, '000001-ops.tar');
    await rm(join(sync, '000001-ops.tar.part-002'));
    await expectRefused(sync, 'missing', new RegExp(`000001-ops\\.tar\\.part-002 is missing: the sidecar lists ${parts.length} parts`));
  });

  test('a missing last part', async () => {
    const sync = await copyOf('none');
    const parts = await partsOf(sync, '000001-ops.tar');
    await rm(join(sync, parts.at(-1) as string));
    await expectRefused(sync, 'last', new RegExp(`${(parts.at(-1) as string).replaceAll('.', '\\.')} is missing`));
  });

  test('a damaged part', async () => {
    const sync = await copyOf('none');
    const path = join(sync, '000001-ops.tar.part-002');
    const bytes = await readFile(path);
    bytes[1000] = (bytes[1000] as number) ^ 0xff;
    await writeFile(path, bytes);
    await expectRefused(sync, 'damaged', /000001-ops\.tar\.part-002: checksum mismatch: \S+ says sha256 [0-9a-f]{64}, the part hashes to/);
  });

  test('a part the sidecar does not list, and a gap without a sidecar', async () => {
    const sync = await copyOf('none');
    const parts = await partsOf(sync, '000001-ops.tar');
    const extra = `000001-ops.tar.part-${String(parts.length + 1).padStart(3, '0')}`;
    await writeFile(join(sync, extra), 'more');
    await expectRefused(sync, 'unlisted', new RegExp(`${extra.replaceAll('.', '\\.')}: a part the sidecar \\S+ does not list`));
    await rm(join(sync, extra));
    await rm(join(sync, 'batch-serialize', '000001-ops.tar.sha256'));
    await rm(join(sync, '000001-ops.tar.part-003'));
    await expectRefused(sync, 'gap', /000001-ops\.tar\.part-003 is missing: the parts have a gap/);
  });

  test('a whole tar beside its parts is ambiguous', async () => {
    const sync = await copyOf('none');
    await exec('sh', ['-c', 'cat 000001-ops.tar.part-* > 000001-ops.tar'], { cwd: sync });
    await expectRefused(sync, 'ambiguous', /both 000001-ops\.tar and its parts \(000001-ops\.tar\.part-001, .*\) are here/);
  });
});

describe('joined with cat (for ace-dt), the whole tar still verifies and loads', () => {
  test.each(['none', 'zstd'])('%s', async (compression) => {
    const sync = await copyOf(compression);
    const ops = compression === 'none' ? '000001-ops.tar' : '000001-ops.tar.zst';
    await exec('sh', ['-c', `cat ${ops}.part-* > ${ops} && mkdir ../parts-${copies} && mv ${ops}.part-* ../parts-${copies}/`], {
      cwd: sync,
    });
    const verified = await runCli(['verify', sync], { env });
    expect(verified.code, verified.stdout).toBe(0);
    expect(verified.stdout + verified.stderr).toMatch(/its sidecar lists \d+ parts and the file here is whole \(joined with cat\?\)/);
    const loaded = await runCli(['deserialize', sync, `${far.host}/joined-${compression}`], { env });
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(await fetchGraph(far.url, `joined-${compression}/ops`, 'sources1')).toEqual(digestsOf(images.sources1));
  });
});

describe('a tar of more parts than the process may hold open', () => {
  /** The CLI with at most `files` file descriptors (`ulimit -n`). */
  const runLimited = (files: number, args: string[]): Promise<CliResult> =>
    new Promise((resolve) => {
      const script = `ulimit -n ${files} && exec "$0" "$@"`;
      execFile('sh', ['-c', script, process.execPath, CLI, ...args], { env }, (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      );
    });

  test('verify and deserialize read its parts a few at a time (ulimit -n 64, some 200 parts)', async () => {
    const sync = await copyOf('none');
    // The same tar cut into 4 KiB parts, listed by its sidecar: the reader takes the parts the sidecar lists, whatever their size.
    const recut =
      'cat 000001-ops.tar.part-* > ../joined && rm 000001-ops.tar.part-* && ' +
      'split -b 4096 -a 3 --numeric-suffixes=1 ../joined 000001-ops.tar.part- && rm ../joined && ' +
      'sha256sum 000001-ops.tar.part-* > batch-serialize/000001-ops.tar.sha256';
    await exec('sh', ['-c', recut], { cwd: sync });
    expect((await partsOf(sync, '000001-ops.tar')).length).toBeGreaterThan(150);
    const verified = await runLimited(64, ['verify', sync]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/everything checks out/);
    const loaded = await runLimited(64, ['deserialize', sync, `${far.host}/many-parts`]);
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(await fetchGraph(far.url, 'many-parts/ops', 'sources1')).toEqual(digestsOf(images.sources1));
  });
});

describe('a run killed while writing parts: the rerun ends where an uninterrupted run ends', () => {
  test.each([
    ['none', 'tar-written:1'],
    ['none', 'sidecar-written:1'],
    ['none', 'part-renamed:1'],
    ['zstd', 'part-renamed:3'],
    ['none', 'renamed:1'],
  ])('%s, killed at %s', async (compression, point) => {
    const sync = join(work, `killed-${++copies}`);
    const args = [batch, sync, '--compression', compression, '--max-file-size', '64KiB'];
    await (await runCliUntil(point, args, env)).kill();
    const rerun = await runCli(args, { env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).not.toMatch(/moved to/);
    if (point.startsWith('part-renamed')) expect(rerun.stderr).toMatch(/000001-ops\.tar(\.zst)?: \d+ of its \d+ parts were in place/);
    expect(await snapshot(sync)).toEqual(await snapshot(reference.get(compression) as string));
  });

  test('unrecorded parts that are not the tar this run writes are moved aside, never deleted', async () => {
    const sync = join(work, `killed-${++copies}`);
    const args = [batch, sync, '--max-file-size', '64KiB'];
    await (await runCliUntil('renamed:1', args, env)).kill();
    await writeFile(join(sync, '000001-ops.tar.part-002'), 'not that part');
    const rerun = await runCli(args, { env });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(/000001-ops\.tar: not recorded in the tracker, and not the tar this run writes under that name: moved to/);
    const [aside] = await readdir(join(sync, 'moved-aside'));
    const moved = await readdir(join(sync, 'moved-aside', aside as string));
    expect(moved).toContain('000001-ops.tar.part-002');
    expect(moved).toContain('000001-ops.tar.sha256');
    await rm(join(sync, 'moved-aside'), { recursive: true });
    expect(await snapshot(sync)).toEqual(await snapshot(reference.get('none') as string));
  });
});

describe('parts written in the side directory', () => {
  test('a .partial part of a dead run is removed by the next run', async () => {
    const sync = join(work, `partials-${++copies}`);
    await mkdir(join(sync, 'batch-serialize'), { recursive: true });
    await writeFile(join(sync, 'batch-serialize', '000001-ops.tar.part-001.partial'), 'half');
    const result = await runCli([batch, sync, '--max-file-size', '64KiB'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(await snapshot(sync)).toEqual(await snapshot(reference.get('none') as string));
  });
});
