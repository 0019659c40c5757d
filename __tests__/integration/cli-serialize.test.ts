import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, rmdir, writeFile, appendFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sha256 } from '../../src/core/oci/digest.ts';
import { Annotation } from '../../src/core/oci/descriptor.ts';
import { runCli } from './support/cli.ts';
import { tree } from '../support/sync-dir-fixture.ts';
import {
  makeGather,
  makeImage,
  manifestsChildrenFirst,
  pushImageSet,
  tutorialImages,
  tutorialSources,
  type ImageSet,
  type TutorialImages,
} from '../../testkit/images.ts';
import { freePort, startRegistry, type RunningRegistry } from '../../testkit/registry.ts';
import { blobDigests, readTar } from './support/tar-contents.ts';

const exec = promisify(execFile);
let registry: RunningRegistry;
let images: TutorialImages;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  images = await tutorialImages();
  await pushImageSet(registry.url, 'gather', 'sources1', images.sources1);
  await pushImageSet(registry.url, 'gather', 'sources2', images.sources2);
  work = await mkdtemp(join(tmpdir(), 'bs-cli-'));
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

let cases = 0;
/** A fresh folder holding batch.csv (with the given rows after the header) and an empty sync dir path. */
async function workspace(rows: string[]): Promise<{ dir: string; batch: string; sync: string }> {
  const dir = join(work, `case-${++cases}`);
  await mkdir(dir);
  const batch = join(dir, 'batch.csv');
  await writeFile(batch, ['name,artifact', ...rows].join('\n') + '\n');
  return { dir, batch, sync: join(dir, 'sync') };
}

const ref = (repoTag: string) => `${registry.host}/${repoTag}`;
const nonManifestBlobs = (set: ImageSet) =>
  new Set([...set.blobs.keys()].filter((d) => !manifestsChildrenFirst(set).some((m) => m.digest === d)));
const manifestDigests = (set: ImageSet) => new Set(manifestsChildrenFirst(set).map((m) => m.digest));

describe('the tutorial, end to end against a real registry', () => {
  test('first run, an upgrade that ships only new blobs, then nothing new', async () => {
    const { batch, sync } = await workspace([`tools,${ref('gather:sources1')}`]);

    const first = await runCli([batch, sync]);
    expect(first.stderr).not.toMatch(/error/);
    expect(first.code).toBe(0);
    expect(await tree(sync)).toEqual([
      '000001-tools.tar',
      'batch-serialize',
      'batch-serialize/000001-tools.tar.sha256',
      'batch-serialize/record-keeping.ledger.jsonl',
      'record-keeping.csv',
    ]);
    expect(await readFile(join(sync, 'record-keeping.csv'), 'utf8')).toBe(
      `sync_name,artifact,digest\n000001-tools.tar,${ref('gather:sources1')},${images.sources1.root.digest}\n`,
    );
    const tar1 = await readTar(join(sync, '000001-tools.tar'));
    expect(blobDigests(tar1)).toEqual(new Set(images.sources1.blobs.keys()));

    await appendFile(batch, `tools,${ref('gather:sources2')}\n`);
    const second = await runCli([batch, sync, '--compression', 'zstd']);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/000002-tools\.tar\.zst/);
    const tar2 = await readTar(join(sync, '000002-tools.tar.zst'));
    // Blob by blob: every manifest of sources2, and only those other blobs sources1 did not ship.
    const shared = [...nonManifestBlobs(images.sources2)].filter((d) => images.sources1.blobs.has(d));
    expect(shared.length).toBeGreaterThan(0);
    const expected = new Set([
      ...manifestDigests(images.sources2),
      ...[...nonManifestBlobs(images.sources2)].filter((d) => !images.sources1.blobs.has(d)),
    ]);
    expect(blobDigests(tar2)).toEqual(expected);
    for (const digest of shared) expect(blobDigests(tar2).has(digest)).toBe(false);

    const index = JSON.parse(tar2.at(-1)?.bytes.toString() ?? '') as {
      manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
      annotations: Record<string, string>;
    };
    expect(tar2.at(-1)?.name).toBe('index.json');
    expect(index.manifests[0]?.digest).toBe(images.sources2.root.digest);
    expect(index.manifests[0]?.annotations?.[Annotation.refName]).toBe(ref('gather:sources2'));
    expect(index.manifests.map((m) => m.digest).sort()).toEqual([...manifestDigests(images.sources2)].sort());
    expect(index.annotations[Annotation.serializationVersion]).toBe('2');

    const third = await runCli([batch, sync]);
    expect(third.code).toBe(0);
    expect(third.stdout).toMatch(/Nothing new to serialize; nothing was written/);
    expect(await tree(sync)).toEqual([
      '000001-tools.tar',
      '000002-tools.tar.zst',
      'batch-serialize',
      'batch-serialize/000001-tools.tar.sha256',
      'batch-serialize/000002-tools.tar.zst.sha256',
      'batch-serialize/record-keeping.ledger.jsonl',
      'record-keeping.csv',
    ]);
    // The checksums travel with the tars: sha256sum checks them from the sync directory with no tool of ours.
    const sidecars = ['batch-serialize/000001-tools.tar.sha256', 'batch-serialize/000002-tools.tar.zst.sha256'];
    const { stdout } = await exec('sha256sum', ['-c', ...sidecars], { cwd: sync });
    expect(stdout).toBe('000001-tools.tar: OK\n000002-tools.tar.zst: OK\n');
  });

  test('skopeo reads full tars: copy --all of a gather, inspect of a nested index, copy of one image', async () => {
    const { batch, sync, dir } = await workspace([`s1,${ref('gather:sources1')}`, `s2,${ref('gather:sources2')}`]);
    expect((await runCli([batch, sync])).code).toBe(0);
    await exec('skopeo', [
      'copy',
      '--all',
      `oci-archive:${join(sync, '000001-s1.tar')}:${ref('gather:sources1')}`,
      `oci:${join(dir, 'all')}:copied`,
    ]);
    // skopeo writes the index anew and converts Docker manifests for an oci: destination; OCI images stay as shipped.
    const { stdout: copied } = await exec('skopeo', ['inspect', '--raw', `oci:${join(dir, 'all')}:copied`]);
    const children = (JSON.parse(copied) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest);
    expect(children).toHaveLength(2);
    expect(children).toContain(images.registry.root.digest);
    // skopeo 1.9 cannot copy --all through a nested index, but reads one and copies its images.
    const archive = (ref: string) => `oci-archive:${join(sync, '000002-s2.tar')}:${ref}`;
    const { stdout } = await exec('skopeo', ['inspect', '--raw', archive(tutorialSources.caddy)]);
    expect(JSON.parse(stdout)).toMatchObject({ mediaType: 'application/vnd.oci.image.index.v1+json' });
    await exec('skopeo', ['copy', '--all', archive(tutorialSources.caddy), `oci:${join(dir, 'caddy')}:caddy`]);
    const { stdout: caddy } = await exec('skopeo', ['inspect', '--raw', `oci:${join(dir, 'caddy')}:caddy`]);
    expect(sha256(caddy)).toBe(images.caddy.root.digest);
    const { stdout: config } = await exec('skopeo', ['inspect', '--config', `oci:${join(dir, 'caddy')}:caddy`]);
    expect(JSON.parse(config)).toMatchObject({ architecture: 'amd64', os: 'linux' });
  });

  test('gzip and zstd tars hold the same tar as the uncompressed one', async () => {
    const tars = await Promise.all(
      (['none', 'gzip', 'zstd'] as const).map(async (compression) => {
        const { batch, sync } = await workspace([`c,${ref('gather:sources1')}`]);
        expect(
          (
            await runCli(
              [batch, sync, '--compression', compression, '--compression-level', compression === 'none' ? '' : '3'].filter(
                (a, i, all) => !(compression === 'none' && (a === '--compression-level' || i === all.length - 1)),
              ),
            )
          ).code,
        ).toBe(0);
        const name = (await readdir(sync)).find((f) => f.startsWith('000001-c.tar')) ?? '';
        return { name, entries: await readTar(join(sync, name)) };
      }),
    );
    expect(tars.map((t) => t.name)).toEqual(['000001-c.tar', '000001-c.tar.gz', '000001-c.tar.zst']);
    const [plain, gzip, zstd] = tars.map((t) => t.entries.map((e) => [e.name, e.bytes.toString('base64')]));
    expect(gzip).toEqual(plain);
    expect(zstd).toEqual(plain);
  });
});

describe('tracker continuation and dedup knowledge', () => {
  test('a sync directory of an older version (sidecars and ledger at the top) continues: they move into batch-serialize/', async () => {
    const { batch, sync } = await workspace([`tools,${ref('gather:sources1')}`]);
    expect((await runCli([batch, sync])).code).toBe(0);
    for (const name of ['000001-tools.tar.sha256', 'record-keeping.ledger.jsonl'])
      await rename(join(sync, 'batch-serialize', name), join(sync, name));
    await rmdir(join(sync, 'batch-serialize'));

    const verified = await runCli(['verify', sync]);
    expect(verified.code, verified.stdout).toBe(0);
    expect(verified.stdout).not.toContain('no .sha256 sidecar');

    await appendFile(batch, `tools,${ref('gather:sources2')}\n`);
    const second = await runCli([batch, sync]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(
      `note: moved 000001-tools.tar.sha256, record-keeping.ledger.jsonl into ${join(sync, 'batch-serialize')} ` +
        '(where this version keeps them)',
    );
    expect(await tree(sync)).toEqual([
      '000001-tools.tar',
      '000002-tools.tar',
      'batch-serialize',
      'batch-serialize/000001-tools.tar.sha256',
      'batch-serialize/000002-tools.tar.sha256',
      'batch-serialize/record-keeping.ledger.jsonl',
      'record-keeping.csv',
    ]);
    // The ledger was read where the older version left it: only blobs sources1 did not ship travel.
    const tar2 = blobDigests(await readTar(join(sync, '000002-tools.tar')));
    for (const digest of nonManifestBlobs(images.sources1)) expect(tar2.has(digest)).toBe(false);
  });

  test('an ace-dt sync directory (tracker, no ledger) continues: old blobs learned from repo@digest', async () => {
    const { batch, sync } = await workspace([`tools,${ref('gather:sources2')}`]);
    await mkdir(sync);
    await writeFile(
      join(sync, 'record-keeping.csv'),
      `sync_name,artifact,digest\n000001-tools.tar,${ref('gather:sources1')},${images.sources1.root.digest}\n`,
    );
    const result = await runCli([batch, sync]);
    expect(result.code).toBe(0);
    const tar = await readTar(join(sync, '000002-tools.tar'));
    for (const digest of nonManifestBlobs(images.sources1)) expect(blobDigests(tar).has(digest)).toBe(false);
    const ledger = (await readFile(join(sync, 'batch-serialize', 'record-keeping.ledger.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { syncName: string; tar: unknown });
    expect(ledger.map((e) => [e.syncName, e.tar === null])).toEqual([
      ['000001-tools.tar', true],
      ['000002-tools.tar', false],
    ]);
  });

  test('a tag that moves A -> B -> A ships A again as manifests only; a moved tag is never skipped', async () => {
    const a = await makeGather([{ source: 'example.com/a:1', image: await makeImage('moving-a', { layers: [3000] }) }]);
    const b = await makeGather([{ source: 'example.com/b:1', image: await makeImage('moving-b', { layers: [3000] }) }]);
    const { batch, sync } = await workspace([`moving,${ref('moving:latest')}`]);
    const shipWith = async (set: ImageSet) => {
      await pushImageSet(registry.url, 'moving', 'latest', set);
      const result = await runCli([batch, sync]);
      expect(result.code, result.stderr).toBe(0);
    };
    await shipWith(a);
    await shipWith(b);
    await shipWith(a);
    const third = await readTar(join(sync, '000003-moving.tar'));
    expect(blobDigests(third)).toEqual(manifestDigests(a));
    const tracker = await readFile(join(sync, 'record-keeping.csv'), 'utf8');
    expect(
      tracker
        .trim()
        .split('\n')
        .slice(1)
        .map((row) => row.split(',')[2]),
    ).toEqual([a.root.digest, b.root.digest, a.root.digest]);
  });

  test('a tracker row whose blobs cannot be learned is an error naming the row, never a silent full re-ship', async () => {
    const { batch, sync } = await workspace([`tools,${ref('gather:sources2')}`]);
    await mkdir(sync);
    const gone = 'sha256:' + '0'.repeat(64);
    await writeFile(join(sync, 'record-keeping.csv'), `sync_name,artifact,digest\n000001-tools.tar,${ref('gather:sources1')},${gone}\n`);
    const result = await runCli([batch, sync]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`tracker row 000001-tools\\.tar \\(${ref('gather:sources1')}@${gone}\\): no ledger entry`));
    expect((await readdir(sync)).sort()).toEqual(['record-keeping.csv']);
  });

  test('--dedup-scope all skips blobs shipped under another name; the default does not', async () => {
    const rows = [`one,${ref('gather:sources1')}`, `two,${ref('gather:sources2')}`];
    const byName = await workspace(rows);
    const acrossNames = await workspace(rows);
    expect((await runCli([byName.batch, byName.sync])).code).toBe(0);
    expect((await runCli([acrossNames.batch, acrossNames.sync, '--dedup-scope', 'all'])).code).toBe(0);
    const two = blobDigests(await readTar(join(byName.sync, '000002-two.tar')));
    const twoAll = blobDigests(await readTar(join(acrossNames.sync, '000002-two.tar')));
    expect(two).toEqual(new Set(images.sources2.blobs.keys()));
    const shared = [...nonManifestBlobs(images.sources2)].filter((d) => images.sources1.blobs.has(d));
    for (const digest of shared) expect(twoAll.has(digest)).toBe(false);
    expect(twoAll.size).toBe(two.size - shared.length);
  });

  test('names with - and . , numbering after the maximum, extra-manifests walked', async () => {
    const fallback = await tutorialImages({ indexFallback: true });
    await pushImageSet(registry.url, 'fallback', 'sources2', fallback.sources2);
    const { batch, sync } = await workspace([`my-tools.v2,${ref('fallback:sources2')}`]);
    await mkdir(sync);
    await writeFile(
      join(sync, 'record-keeping.csv'),
      `sync_name,artifact,digest\n` +
        `000009-other.tar,${ref('gather:sources1')},${images.sources1.root.digest}\n` +
        `000004-x.tar,${ref('gather:sources1')},${images.sources1.root.digest}\n`,
    );
    const result = await runCli([batch, sync]);
    expect(result.code, result.stderr).toBe(0);
    const tar = await readTar(join(sync, '000010-my-tools.v2.tar'));
    // The caddy index hangs only from the extra-manifests annotation, yet it and its images are in the tar.
    expect(blobDigests(tar)).toEqual(new Set(fallback.sources2.blobs.keys()));
  });
});

describe('outputs', () => {
  test('--dry-run plans with manifests only and writes nothing; --json is machine-readable', async () => {
    const { batch, sync } = await workspace([`tools,${ref('gather:sources1')}`]);
    const result = await runCli([batch, sync, '--dry-run', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      dryRun: boolean;
      planned: Array<{ syncName: string; blobs: number; contentBytes: number }>;
    };
    expect(report.dryRun).toBe(true);
    const total = [...images.sources1.blobs.values()].reduce((sum, b) => sum + b.byteLength, 0);
    expect(report.planned).toMatchObject([{ syncName: '000001-tools.tar', blobs: images.sources1.blobs.size, contentBytes: total }]);
    await expect(readdir(sync)).rejects.toThrow(/ENOENT/);
  });

  test('--manifest-json adds a docker-load manifest.json naming configs and layers in the tar', async () => {
    const { batch, sync } = await workspace([`tools,${ref('gather:sources1')}`]);
    expect((await runCli([batch, sync, '--manifest-json'])).code).toBe(0);
    const entries = await readTar(join(sync, '000001-tools.tar'));
    const manifest = entries.find((e) => e.name === 'manifest.json');
    const list = JSON.parse(manifest?.bytes.toString() ?? '[]') as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
    expect(list.map((m) => m.RepoTags)).toEqual([[tutorialSources.registry], [tutorialSources.grafana]]);
    const names = new Set(entries.map((e) => e.name));
    for (const m of list) for (const path of [m.Config, ...m.Layers]) expect(names.has(path)).toBe(true);
  });
});

describe('bad input fails before anything is written, naming the place', () => {
  test.each([
    ['one field', ['tools'], /batch\.csv:2: expected 2 columns/],
    ['empty artifact', ['tools,'], /batch\.csv:2: empty artifact/],
    ['unparsable reference', ['tools,Bad Ref'], /batch\.csv:2: invalid reference/],
    ['bad quoting', ['tools,"unterminated'], /batch\.csv:2: .*quote/i],
    ['bad name', ['../x,localhost/a:1'], /batch\.csv:2: invalid name/],
    ['missing tag', ['ok,REG/gather:sources1', 'tools,REG/gather:nope'], /batch\.csv:3: REG\/gather:nope: .*404 MANIFEST_UNKNOWN/],
  ])('%s', async (_, rows, message) => {
    const { batch, sync, dir } = await workspace(rows.map((r) => r.replace('REG', registry.host)));
    const result = await runCli([batch, sync]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(message.source.replaceAll('REG', registry.host.replace(/\./g, '\\.')), message.flags));
    expect(result.stderr).toContain(dir);
    await expect(readdir(sync)).rejects.toThrow(/ENOENT/);
  });

  test('an unreachable registry is reported with the row', async () => {
    const port = await freePort();
    const { batch, sync } = await workspace([`tools,127.0.0.1:${port}/gather:sources1`]);
    const result = await runCli([batch, sync]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/batch\.csv:2: 127\.0\.0\.1:\d+\/gather:sources1: .*ECONNREFUSED/);
    await expect(readdir(sync)).rejects.toThrow(/ENOENT/);
  }, 120_000);

  test('a damaged tracker is an error naming file:line; nothing is written', async () => {
    const { batch, sync } = await workspace([`tools,${ref('gather:sources1')}`]);
    await mkdir(sync);
    await writeFile(join(sync, 'record-keeping.csv'), 'sync_name,artifact,digest\n000001-tools.tar,x/a:1,sha256:nope\n');
    const result = await runCli([batch, sync]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/record-keeping\.csv:2: damaged tracker: bad digest/);
    expect(await readdir(sync)).toEqual(['record-keeping.csv']);
  });

  test.each([
    [['--compression', 'bzip2'], /compression.*bzip2/i],
    [['--dedup-scope', 'everything'], /--dedup-scope "everything": use name or all/],
    [['--concurrency', '0'], /--concurrency "0": a whole number from 1 to 64/],
    [['--compression-level', '3'], /--compression-level needs compression gzip or zstd/],
    [['--frobnicate'], /^batch-serialize: unknown option --frobnicate\n/],
  ])('usage error %j exits 2', async (args, message) => {
    const { batch, sync } = await workspace([`tools,${ref('gather:sources1')}`]);
    const result = await runCli([batch, sync, ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe('failures lose nothing', () => {
  test('when the third tar fails, the first two stay recorded, no partial is left, and the rerun ships the third', async () => {
    const victim = await makeGather([{ source: 'example.com/victim:1', image: await makeImage('victim', { layers: [5000] }) }]);
    await pushImageSet(registry.url, 'victim', 'v1', victim);
    const layer =
      [...nonManifestBlobs(victim)].find(
        (d) =>
          victim.blobs.get(d)?.byteLength === Math.max(...[...nonManifestBlobs(victim)].map((x) => victim.blobs.get(x)?.byteLength ?? 0)),
      ) ?? '';
    const deleted = await fetch(`${registry.url}/v2/victim/blobs/${layer}`, { method: 'DELETE' });
    expect(deleted.status).toBe(202);

    const { batch, sync } = await workspace([`a,${ref('gather:sources1')}`, `b,${ref('gather:sources2')}`, `c,${ref('victim:v1')}`]);
    const failed = await runCli([batch, sync]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(new RegExp(`batch-serialize: error: .*${layer}`));
    expect(await tree(sync)).toEqual([
      '000001-a.tar',
      '000002-b.tar',
      'batch-serialize',
      'batch-serialize/000001-a.tar.sha256',
      'batch-serialize/000002-b.tar.sha256',
      'batch-serialize/record-keeping.ledger.jsonl',
      'record-keeping.csv',
    ]);
    expect((await readFile(join(sync, 'record-keeping.csv'), 'utf8')).trim().split('\n')).toHaveLength(3);

    await writeFile(join(sync, 'batch-serialize', '000003-c.tar.partial'), 'left by a run that died');
    await writeFile(join(sync, '000004-c.tar.partial'), 'left by a run of an older version');
    await pushImageSet(registry.url, 'victim', 'v1', victim);
    const rerun = await runCli([batch, sync]);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect((await tree(sync)).filter((f) => !f.endsWith('.sha256'))).toEqual([
      '000001-a.tar',
      '000002-b.tar',
      '000003-c.tar',
      'batch-serialize',
      'batch-serialize/record-keeping.ledger.jsonl',
      'record-keeping.csv',
    ]);
    expect(blobDigests(await readTar(join(sync, '000003-c.tar')))).toEqual(new Set(victim.blobs.keys()));
  });
});
