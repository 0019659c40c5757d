import { execFile } from 'node:child_process';
import { appendFile, cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeAceDtTar } from './support/ace-dt-tar.ts';
import { runCli } from './support/cli.ts';
import { digestsOf, fetchGraph, resolveTag } from '../../testkit/far-registry.ts';
import { pushImageSet, tutorialImages, type ImageSet, type TutorialImages } from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

const exec = promisify(execFile);
let source: RunningRegistry;
let far: RunningRegistry;
let images: TutorialImages;
/** sources2 gathered with ace-dt's --index-fallback: the caddy index sits in the extra-manifests annotation. */
let fallback: ImageSet;
let work: string;

beforeAll(async () => {
  [source, far] = await Promise.all([startRegistry(), startRegistry()]);
  images = await tutorialImages();
  fallback = (await tutorialImages({ indexFallback: true })).sources2;
  await pushImageSet(source.url, 'gather', 'sources1', images.sources1);
  await pushImageSet(source.url, 'gather', 'sources2', images.sources2);
  await pushImageSet(source.url, 'gather', 'fallback', fallback);
  work = await mkdtemp(join(tmpdir(), 'bs-far-'));
});
afterAll(async () => {
  await Promise.all([source?.stop(), far?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

const ref = (repoTag: string) => `${source.host}/${repoTag}`;

async function ok(args: string[]): Promise<string> {
  const result = await runCli(args);
  expect(result.stderr).not.toMatch(/error/i);
  expect(result.code).toBe(0);
  return result.stdout;
}

/** The far side holds exactly the source's graph, byte for byte, under the artifact's tag. */
async function expectSame(repository: string, tag: string, set: ImageSet): Promise<void> {
  expect(await resolveTag(far.url, repository, tag)).toBe(set.root.digest);
  expect(await fetchGraph(far.url, repository, tag)).toEqual(digestsOf(set));
}

describe('round trip through tars into a second registry', () => {
  test('our tars (none, gzip, zstd): verify, deserialize with scatter, skopeo and umoci read the far side', async () => {
    const sync = join(work, 'ours');
    const batch = join(work, 'ours.csv');
    await writeFile(batch, `name,artifact\ntools,${ref('gather:sources1')}\n`);
    await ok([batch, sync]);
    await appendFile(batch, `tools,${ref('gather:sources2')}\n`);
    await ok([batch, sync, '--compression', 'gzip']);
    await appendFile(batch, `nested,${ref('gather:fallback')}\n`);
    await ok([batch, sync, '--compression', 'zstd']);

    const verified = await ok(['verify', sync]);
    expect(verified).toMatch(/000001-tools\.tar\s.*match.*ok/);
    expect(verified).toMatch(/000002-tools\.tar\.gz\s.*match.*ok/);
    expect(verified).toMatch(/000003-nested\.tar\.zst\s.*match.*ok/);
    expect(verified).toMatch(/everything checks out/);

    const loaded = await ok(['deserialize', sync, `${far.host}/ours`, '--scatter']);
    expect(loaded).toMatch(/000003-nested\.tar\.zst/);
    await expectSame('ours/tools', 'sources2', images.sources2);
    expect(await fetchGraph(far.url, 'ours/tools', images.sources1.root.digest)).toEqual(digestsOf(images.sources1));
    await expectSame('ours/nested', 'fallback', fallback);
    // Scatter: each gathered image under its source path.
    await expectSame('ours/grafana/grafana', '10.4.1', images.grafana);
    await expectSame('ours/library/registry', '2.8.3', images.registry);
    await expectSame('ours/library/caddy', '2.7.6', images.caddy);

    const syncs = (await readFile(join(sync, 'successful-syncs.csv'), 'utf8')).trim().split('\n');
    expect(syncs[0]).toBe('filename,artifact,timestamp');
    expect(syncs.slice(1).map((line) => line.split(',').slice(0, 2).join(','))).toEqual([
      `000001-tools.tar,${far.host}/ours/tools:sources1`,
      `000002-tools.tar.gz,${far.host}/ours/tools:sources2`,
      `000003-nested.tar.zst,${far.host}/ours/nested:fallback`,
    ]);
    expect(await ok(['deserialize', sync, `${far.host}/ours`])).toMatch(/Nothing new to load/);
    // Another destination is another load: the records name where each tar went.
    expect(await ok(['deserialize', sync, `${far.host}/again`])).toMatch(/000003-nested\.tar\.zst\s+\S+\/again\/nested:fallback/);
    await expectSame('again/tools', 'sources2', images.sources2);

    // Standard tools read the far registry: skopeo copies the flat gather index and the multi-platform caddy
    // index whole (skopeo 1.9 cannot copy --all through an index nested in an index), umoci unpacks an image.
    const layout = join(work, 'skopeo-layout');
    for (const [from, tag] of [
      [`ours/tools@${images.sources1.root.digest}`, 'sources1'],
      ['ours/library/caddy:2.7.6', 'caddy'],
      ['ours/library/registry:2.8.3', 'registry'],
    ]) {
      await exec('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${far.host}/${from}`, `oci:${layout}:${tag}`]);
    }
    const bundle = join(work, 'bundle');
    await exec('umoci', ['unpack', '--rootless', '--image', `${layout}:registry`, bundle]);
    expect((await readFile(join(bundle, 'rootfs', 'data', 'registry_linux_amd64_0.bin'))).byteLength).toBe(6000);
  });

  test("tars in ace-dt's layout by GNU tar, gzip and zstd, without sidecars: verify, then deserialize", async () => {
    const sync = join(work, 'acedt');
    await mkdir(sync);
    const shipped = new Set(images.sources1.blobs.keys());
    await writeAceDtTar(join(sync, '000001-tools.tar.gz'), images.sources1, { refName: ref('gather:sources1'), compression: 'gzip' });
    await writeAceDtTar(join(sync, '000002-tools.tar.zst'), images.sources2, {
      refName: ref('gather:sources2'),
      compression: 'zstd',
      leaveOut: shipped,
    });
    await writeAceDtTar(join(sync, '000003-nested.tar'), fallback, { refName: ref('gather:fallback'), compression: 'none' });

    const verified = await ok(['verify', sync]);
    expect(verified).toMatch(/000002-tools\.tar\.zst\s.*missing\s+\d+\s+[1-9]\d*\s+ok/);
    expect(verified).toMatch(/no \.sha256 sidecar/);
    expect(verified).toMatch(/everything checks out/);

    await ok(['deserialize', sync, `${far.host}/acedt`]);
    await expectSame('acedt/tools', 'sources2', images.sources2);
    expect(await fetchGraph(far.url, 'acedt/tools', images.sources1.root.digest)).toEqual(digestsOf(images.sources1));
    await expectSame('acedt/nested', 'fallback', fallback);

    // A far side ace-dt's batch-deserialize loaded (every name into DEST itself, tagged with the name, recorded
    // as DEST:NAME): ours skips what it recorded and mounts the blobs later tars leave out from DEST.
    const legacy = join(work, 'acedt-legacy');
    await mkdir(legacy);
    await pushImageSet(far.url, 'legacy', 'tools', images.sources1);
    await cp(join(sync, '000002-tools.tar.zst'), join(legacy, '000002-tools.tar.zst'));
    const aceDtRow = `000001-tools.tar.gz,${far.host}/legacy:tools,2024-01-27 16:16:00.123456789 -0500 EST m=+1.000000001`;
    await writeFile(join(legacy, 'successful-syncs.csv'), `filename,artifact,timestamp\n${aceDtRow}\n`);
    expect(await ok(['deserialize', legacy, `${far.host}/legacy`])).toMatch(
      /000002-tools\.tar\.zst\s+\S+\/legacy\/tools:sources2\s+\d+ \(.*\)\s+[1-9]\d*\s/,
    );
    await expectSame('legacy/tools', 'sources2', images.sources2);
    expect((await readFile(join(legacy, 'successful-syncs.csv'), 'utf8')).split('\n').slice(0, 2)).toEqual([
      'filename,artifact,timestamp',
      aceDtRow,
    ]);
  });

  test("--dedup-scope all, recorded in the tars: the far side needs no option; another name's blobs are mounted", async () => {
    const sync = join(work, 'scope-all');
    const batch = join(work, 'scope-all.csv');
    await writeFile(batch, `name,artifact\nops,${ref(`gather@${images.sources1.root.digest}`)}\ntools,${ref('gather:sources2')}\n`);
    await ok([batch, sync, '--dedup-scope', 'all']);

    expect(await ok(['verify', sync])).toMatch(/000002-tools\.tar\s.*\s[1-9]\d*\s+ok/);
    // An explicit --dedup-scope overrides what the tars record, on purpose, and says so.
    const byName = await runCli(['verify', sync, '--dedup-scope', 'name']);
    expect(byName.code).toBe(1);
    expect(byName.stdout).toMatch(
      new RegExp(
        String.raw`000002-tools\.tar: \d+ blob\(s\) of the artifact are in neither this tar nor an earlier tar here ` +
          String.raw`\(000001-ops\.tar of another name holds some: serialized with --dedup-scope all\?\)`,
      ),
    );
    expect(byName.stdout).toContain(
      '000002-tools.tar: serialized with --dedup-scope all (its index.json says so), checked with --dedup-scope name as asked',
    );

    // Two runs, so the second knows nothing of the first: it must find grafana's blobs in all/ops by asking.
    await rename(join(sync, '000002-tools.tar'), join(work, '000002-tools.tar'));
    await ok(['deserialize', sync, `${far.host}/all`]);
    expect(await fetchGraph(far.url, 'all/ops', images.sources1.root.digest)).toEqual(digestsOf(images.sources1));
    await rename(join(work, '000002-tools.tar'), join(sync, '000002-tools.tar'));
    const json = JSON.parse(await ok(['deserialize', sync, `${far.host}/all`, '--json'])) as {
      loaded: Array<{ syncName: string; mounted: number; reference: string }>;
      skipped: string[];
    };
    expect(json.skipped).toEqual(['000001-ops.tar']);
    expect(json.loaded[0]?.mounted).toBeGreaterThan(0);
    await expectSame('all/tools', 'sources2', images.sources2);
    const syncs = await readFile(join(sync, 'successful-syncs.csv'), 'utf8');
    expect(syncs).toContain(`000001-ops.tar,${far.host}/all/ops@${images.sources1.root.digest},`);
  });
});
