import { cp, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startHtpasswdRegistry, type AuthRegistry } from './support/auth-registry.ts';
import { runCli } from './support/cli.ts';
import { startCountingProxy, type CountingProxy } from './support/counting-proxy.ts';
import { digestsOf, fetchGraph, repositoriesWithManifests, resolveTag } from '../../testkit/far-registry.ts';
import { pushImageSet, tutorialImages, type TutorialImages } from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

let source: RunningRegistry;
let far: RunningRegistry;
let images: TutorialImages;
let work: string;
/** 000001-ops.tar (sources1), 000002-tools.tar (sources1), 000003-tools.tar (sources2: leaves out grafana), with sidecars and tracker. */
let base: string;

beforeAll(async () => {
  [source, far] = await Promise.all([startRegistry(), startRegistry()]);
  images = await tutorialImages();
  await pushImageSet(source.url, 'gather', 'sources1', images.sources1);
  await pushImageSet(source.url, 'gather', 'sources2', images.sources2);
  work = await mkdtemp(join(tmpdir(), 'bs-faults-'));
  base = join(work, 'base');
  const batch = join(work, 'batch.csv');
  await writeFile(batch, `name,artifact\nops,${source.host}/gather:sources1\ntools,${source.host}/gather:sources1\n`);
  expect((await runCli([batch, base])).code).toBe(0);
  await writeFile(batch, `name,artifact\nops,${source.host}/gather:sources1\ntools,${source.host}/gather:sources2\n`);
  expect((await runCli([batch, base])).code).toBe(0);
});
afterAll(async () => {
  await Promise.all([source?.stop(), far?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

let copies = 0;
async function copyOfBase(): Promise<string> {
  const dir = join(work, `copy-${++copies}`);
  await cp(base, dir, { recursive: true });
  return dir;
}

/** sha256sum's line for a file, as the serializer writes it (in batch-serialize/, where readers look first). */
async function rewriteSidecar(dir: string, name: string): Promise<void> {
  const hex = createHash('sha256')
    .update(await readFile(join(dir, name)))
    .digest('hex');
  await writeFile(join(dir, 'batch-serialize', `${name}.sha256`), `${hex}  ${name}\n`);
}

/** Flips one byte in the middle of a blob's content inside an uncompressed tar. */
async function flipByteOf(path: string, blob: Uint8Array): Promise<void> {
  const bytes = await readFile(path);
  const at = bytes.indexOf(Buffer.from(blob));
  expect(at).toBeGreaterThan(0);
  const middle = at + Math.floor(blob.byteLength / 2);
  bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
  await writeFile(path, bytes);
}

const grafanaLayer = () => {
  const [digest, bytes] = [...images.grafana.blobs].find(([, b]) => b.byteLength > 4000) as [string, Uint8Array];
  return { digest, bytes };
};

describe('verify', () => {
  test('a good directory passes; --json says so', async () => {
    const result = await runCli(['verify', base, '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      ok: boolean;
      tars: Array<{ syncName: string; sidecar: string; fromEarlierTars: number }>;
    };
    expect(report.ok).toBe(true);
    expect(report.tars.map((t) => [t.syncName, t.sidecar])).toEqual([
      ['000001-ops.tar', 'match'],
      ['000002-tools.tar', 'match'],
      ['000003-tools.tar', 'match'],
    ]);
    expect(report.tars[2]?.fromEarlierTars).toBeGreaterThan(0);
  });

  test('a truncated tar: named, with the tar that needed it', async () => {
    const dir = await copyOfBase();
    await truncate(join(dir, '000002-tools.tar'), 25_000); // inside the largest layer, whatever index.json's length
    const result = await runCli(['verify', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /000002-tools\.tar: .*000002-tools\.tar: entry blobs\/sha256\/[a-f0-9]{64}: Unexpected end of data \(the file is truncated\)/,
    );
    expect(result.stdout).toMatch(/000003-tools\.tar: needs sha256:[a-f0-9]{64} .*which should be in 000002-tools\.tar \(damaged\)/);
  });

  test('a flipped byte in a blob (sidecar rewritten to match): the blob is named', async () => {
    const dir = await copyOfBase();
    const layer = grafanaLayer();
    await flipByteOf(join(dir, '000001-ops.tar'), layer.bytes);
    await rewriteSidecar(dir, '000001-ops.tar');
    const result = await runCli(['verify', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`000001-ops\\.tar: blob ${layer.digest}: content does not match its descriptor`));
    expect(result.stdout).toMatch(/000001-ops\.tar\s.*\smatch\s.*FAILED/); // the sidecar matches (not "mismatch"): the blob fails
    expect(result.stdout).toMatch(/000002-tools\.tar\s.*ok/);
  });

  test('a missing middle tar: the gap, and the blobs of the later tar it held', async () => {
    const dir = await copyOfBase();
    await rm(join(dir, '000002-tools.tar'));
    await rm(join(dir, 'batch-serialize', '000002-tools.tar.sha256'));
    const result = await runCli(['verify', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/000002-tools\.tar is missing \(the numbering has a gap\)/);
    expect(result.stdout).toMatch(
      new RegExp(`000003-tools\\.tar: needs ${grafanaLayer().digest} .*which should be in 000002-tools\\.tar \\(not here\\)`),
    );
    // Without the tracker the name is unknown, the number is not.
    await rm(join(dir, 'record-keeping.csv'));
    expect((await runCli(['verify', dir])).stdout).toMatch(/which should be in 000002-\*\.tar \(not here\)/);
  });

  test('a sidecar that does not match', async () => {
    const dir = await copyOfBase();
    await writeFile(join(dir, 'batch-serialize', '000001-ops.tar.sha256'), `${'0'.repeat(64)}  000001-ops.tar\n`);
    const result = await runCli(['verify', dir]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /000001-ops\.tar: checksum mismatch: .*batch-serialize\/000001-ops\.tar\.sha256 says sha256 0{64}, the file hashes to [a-f0-9]{64}/,
    );
  });
});

describe('deserialize', () => {
  test('a destination that dies mid-push: the rerun completes and uploads no blob twice', async () => {
    const dir = await copyOfBase();
    const proxy: CountingProxy = await startCountingProxy(far.url);
    try {
      // 000001-ops uploads its 9 blobs; 000002-tools mounts them all from far/cut/ops; 000003-tools uploads caddy's.
      proxy.dieAfterUploads(11);
      const first = await runCli(['deserialize', dir, `${proxy.host}/cut`]);
      expect(first.code).toBe(1);
      expect(first.stderr).toMatch(
        /error: .*000003-tools\.tar: entry blobs\/sha256\/[a-f0-9]{64}: PUT http:\/\/127\.0\.0\.1:\d+\/v2\/cut\/tools\/blobs\/uploads/,
      );
      const recorded = await readFile(join(dir, 'successful-syncs.csv'), 'utf8');
      expect(
        recorded
          .trim()
          .split('\n')
          .map((line) => line.split(',')[0]),
      ).toEqual(['filename', '000001-ops.tar', '000002-tools.tar']);
      expect(proxy.uploads.length).toBeGreaterThanOrEqual(11); // and those under way when it died
      expect(proxy.mounts.length).toBeGreaterThan(0);

      proxy.heal();
      const second = await runCli(['deserialize', dir, `${proxy.host}/cut`]);
      expect(second.stderr).not.toMatch(/error/);
      expect(second.code).toBe(0);
      expect(second.stdout).toMatch(/Already loaded \(successful-syncs\.csv\): 000001-ops\.tar, 000002-tools\.tar/);
      expect(new Set(proxy.uploads).size).toBe(proxy.uploads.length);
      expect(new Set(proxy.manifests).size).toBe(proxy.manifests.length);
      expect(await resolveTag(far.url, 'cut/tools', 'sources2')).toBe(images.sources2.root.digest);
      expect(await fetchGraph(far.url, 'cut/tools', 'sources2')).toEqual(digestsOf(images.sources2));
      expect(await fetchGraph(far.url, 'cut/ops', 'sources1')).toEqual(digestsOf(images.sources1));
    } finally {
      await proxy.stop();
    }
  });

  test('a wrong password: a clear 401 naming the registry, the password never shown, nothing recorded', async () => {
    const secured: AuthRegistry = await startHtpasswdRegistry();
    try {
      const dir = await copyOfBase();
      const config = async (password: string) => {
        const home = await mkdtemp(join(work, 'docker-'));
        const auth = Buffer.from(`${secured.username}:${password}`).toString('base64');
        await writeFile(join(home, 'config.json'), JSON.stringify({ auths: { [secured.registry.host]: { auth } } }));
        return { ...process.env, DOCKER_CONFIG: home };
      };
      const wrong = await runCli(['deserialize', dir, `${secured.registry.host}/far`], { env: await config('not-the-password') });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(
        new RegExp(`401 unauthorized: authentication required for ${secured.registry.host.replace(/\./g, '\\.')}`),
      );
      expect(wrong.stderr).not.toContain('not-the-password');
      await expect(readFile(join(dir, 'successful-syncs.csv'), 'utf8')).rejects.toThrow(/ENOENT/);

      const right = await runCli(['deserialize', dir, `${secured.registry.host}/far`], { env: await config(secured.password) });
      expect(right.code).toBe(0);
      expect(right.stdout).toMatch(/000003-tools\.tar\s+127\.0\.0\.1:\d+\/far\/tools:sources2/);
    } finally {
      await secured.stop();
    }
  });

  test('a tar whose predecessors are not loaded is refused, no manifest of it pushed', async () => {
    const dir = join(work, 'only-third');
    await mkdir(dir);
    await cp(join(base, '000003-tools.tar'), join(dir, '000003-tools.tar'));
    const result = await runCli(['deserialize', dir, `${far.host}/pred`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        String.raw`000003-tools\.tar: refused, no manifest or tag of it was pushed: it leaves out \d+ blob\(s\) that ` +
          String.raw`127\.0\.0\.1:\d+/pred/tools does not hold; .*load 000001-\*\.tar, 000002-\*\.tar first`,
      ),
    );
    expect(result.stderr).toContain(grafanaLayer().digest);
    expect(await repositoriesWithManifests(far, 'pred/')).toEqual([]);
  });

  test('a damaged tar is refused, no manifest of it pushed', async () => {
    const dir = await copyOfBase();
    await flipByteOf(join(dir, '000001-ops.tar'), grafanaLayer().bytes);
    const result = await runCli(['deserialize', dir, `${far.host}/damaged`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /000001-ops\.tar: refused, the tar is damaged \(no manifest or tag of it was pushed\):\n {2}checksum mismatch/,
    );
    expect(result.stderr).toMatch(/blob sha256:[a-f0-9]{64}: content does not match its descriptor/);
    expect(await repositoriesWithManifests(far, 'damaged/')).toEqual([]);
  });
});

describe('usage', () => {
  test.each([
    [['verify'], /verify expects SYNC-DIRECTORY, got 0/],
    [['deserialize', 'dir'], /deserialize expects SYNC-DIRECTORY and DEST, got 1/],
    [['deserialize', 'dir', 'nohost'], /destination "nohost": expected HOST\[:PORT\]\[\/PATH\]/],
    [['deserialize', 'dir', 'reg.example:5000/x:tag'], /no tag or digest/],
    [['deserialize', 'dir', 'reg.example', '--scatter-map', 'm.txt'], /--scatter-map needs --scatter/],
    [['verify', 'dir', '--dedup-scope', 'some'], /--dedup-scope "some": use name or all/],
  ])('%j exits 2 with the subcommand usage', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(new RegExp(`Usage: batch-serialize ${args[0]} SYNC-DIRECTORY`));
  });

  test('help for each subcommand', async () => {
    expect((await runCli(['verify', '--help'])).stdout).toMatch(/Usage: batch-serialize verify SYNC-DIRECTORY/);
    expect((await runCli(['deserialize', '-h'])).stdout).toMatch(/--scatter-map FILE/);
    expect((await runCli(['--help'])).stdout).toMatch(/batch-serialize deserialize SYNC-DIRECTORY DEST/);
  });
});
