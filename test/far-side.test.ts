import { execFile } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from './support/cli.ts';
import { digestsOf, fetchGraph, resolveTag } from './support/far-registry.ts';
import { pushImageSet, tutorialImages, tutorialSources, type ImageSet, type TutorialImages } from './support/images.ts';
import { startRegistry, type RunningRegistry } from './support/registry.ts';

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

    // Standard tools read the far registry: skopeo copies the flat gather index and the multi-platform caddy
    // index whole (skopeo 1.9 cannot copy --all through an index nested in an index), umoci unpacks an image.
    const layout = join(work, 'skopeo-layout');
    for (const [from, tag] of [[`ours/tools@${images.sources1.root.digest}`, 'sources1'], ['ours/library/caddy:2.7.6', 'caddy'], ['ours/library/registry:2.8.3', 'registry']]) {
      await exec('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${far.host}/${from}`, `oci:${layout}:${tag}`]);
    }
    const bundle = join(work, 'bundle');
    await exec('umoci', ['unpack', '--rootless', '--image', `${layout}:registry`, bundle]);
    expect((await readFile(join(bundle, 'rootfs', 'data', 'registry_linux_amd64_0.bin'))).byteLength).toBe(6000);
  });
});
