import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sha256 } from '../../src/core/oci/digest.ts';
import { Annotation, MediaType, type Descriptor } from '../../src/core/oci/descriptor.ts';
import {
  GATHER_ARTIFACT_TYPE,
  layersOf,
  makeImage,
  manifestsChildrenFirst,
  parseManifest,
  pushImageSet,
  seededBytes,
  tutorialImages,
  tutorialSources,
  type ImageSet,
  type TutorialImages,
} from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

const run = promisify(execFile);

let images: TutorialImages;
let registry: RunningRegistry;
let dir: string;

beforeAll(async () => {
  [images, registry, dir] = await Promise.all([tutorialImages(), startRegistry(), mkdtemp(join(tmpdir(), 'bs-images-'))]);
});
afterAll(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('builders', () => {
  test('are deterministic', async () => {
    expect(Buffer.from(seededBytes('x', 10)).toString('hex')).toBe(Buffer.from(seededBytes('x', 10)).toString('hex'));
    expect(seededBytes('x', 10)).not.toEqual(seededBytes('y', 10));
    const again = await tutorialImages();
    expect(again.sources1.root).toEqual(images.sources1.root);
    expect(again.sources2.root).toEqual(images.sources2.root);
  });

  test('every blob is stored under its digest', () => {
    for (const set of [images.sources1, images.sources2]) {
      for (const [digest, bytes] of set.blobs) expect(sha256(bytes)).toBe(digest);
    }
  });

  test("a config's diff_ids are its layers' uncompressed digests, and the layer is a tar holding the file", () => {
    const manifest = parseManifest(images.grafana, images.grafana.root);
    expect(manifest.mediaType).toBe(MediaType.dockerManifest);
    const config = JSON.parse(Buffer.from(images.grafana.blobs.get(manifest.config!.digest)!).toString()) as {
      architecture: string;
      os: string;
      rootfs: { diff_ids: string[] };
    };
    expect(config).toMatchObject({ architecture: 'amd64', os: 'linux' });
    const layers = manifest.layers!.map((layer) => gunzipSync(images.grafana.blobs.get(layer.digest)!));
    expect(config.rootfs.diff_ids).toEqual(layers.map((tar) => sha256(tar)));
    expect(layers[2]!.toString('latin1', 512, 512 + 'data/grafana_linux_amd64_2.bin'.length)).toBe('data/grafana_linux_amd64_2.bin');
  });

  test('a gather looks like what ace-dt mirror gather pushes', () => {
    const index = parseManifest(images.sources2, images.sources2.root);
    expect(index.mediaType).toBe(MediaType.ociIndex);
    expect(index.artifactType).toBe(GATHER_ARTIFACT_TYPE);
    expect(index.manifests!.map((m) => [m.mediaType, m.annotations])).toEqual([
      [MediaType.dockerManifest, { [Annotation.manifestSource]: tutorialSources.grafana, [Annotation.refName]: tutorialSources.grafana }],
      [MediaType.ociIndex, { [Annotation.manifestSource]: tutorialSources.caddy, [Annotation.refName]: tutorialSources.caddy }],
    ]);
    const layers = layersOf(images.sources2);
    const unique = new Map(layers.map((layer) => [layer.digest, layer.size]));
    expect(unique.size).toBe(layers.length - 1); // caddy's two platforms share their base layer
    expect(index.annotations).toEqual({
      [Annotation.layerSizeTotal]: String(layers.reduce((sum, layer) => sum + layer.size, 0)),
      [Annotation.layerSizeDeduplicated]: String([...unique.values()].reduce((sum, size) => sum + size, 0)),
    });
    const shared = [...images.sources1.blobs.keys()].filter((digest) => images.sources2.blobs.has(digest));
    expect(new Set(shared)).toEqual(new Set(images.grafana.blobs.keys()));
  });

  test('--index-fallback moves nested indexes to the extra-manifests annotation', async () => {
    const { sources2 } = await tutorialImages({ indexFallback: true });
    const index = parseManifest(sources2, sources2.root);
    expect(index.manifests!.map((m) => m.digest)).toEqual([images.grafana.root.digest]);
    const extra = JSON.parse(index.annotations![Annotation.extraManifests]!) as Descriptor[];
    expect(extra.map((m) => [m.digest, m.annotations?.[Annotation.refName]])).toEqual([[images.caddy.root.digest, tutorialSources.caddy]]);
    expect(manifestsChildrenFirst(sources2).map((m) => m.digest)).toContain(images.caddy.root.digest);
  });

  test('manifests come children first', () => {
    const order = manifestsChildrenFirst(images.sources2).map((m) => m.digest);
    expect(order.at(-1)).toBe(images.sources2.root.digest);
    expect(order.indexOf(images.caddy.root.digest)).toBeGreaterThan(1);
  });
});

describe('pushImageSet', () => {
  const skopeo = (...args: string[]) => run('skopeo', args, { encoding: 'buffer', maxBuffer: 1 << 26 });

  async function expectPushed(repository: string, tag: string, set: ImageSet): Promise<void> {
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/${repository}:${tag}`);
    expect(sha256(raw.stdout)).toBe(set.root.digest);
    for (const descriptor of manifestsChildrenFirst(set)) {
      const response = await fetch(`${registry.url}/v2/${repository}/manifests/${descriptor.digest}`, {
        headers: { accept: descriptor.mediaType },
      });
      expect(sha256(new Uint8Array(await response.arrayBuffer()))).toBe(descriptor.digest);
    }
  }

  test('puts the tutorial gathers, nested index included, in a real registry', async () => {
    await pushImageSet(registry.url, 'gather', 'sources1', images.sources1);
    await pushImageSet(registry.url, 'gather', 'sources2', images.sources2);
    await expectPushed('gather', 'sources1', images.sources1);
    await expectPushed('gather', 'sources2', images.sources2);
    // every blob is there: skopeo copies the whole of sources1 out again
    const copy = join(dir, 'copy');
    await skopeo('copy', '--all', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/gather:sources1`, `oci:${copy}:sources1`);
    expect(JSON.parse(await readFile(join(copy, 'index.json'), 'utf8'))).toMatchObject({ manifests: [{ mediaType: MediaType.ociIndex }] });
  });

  test('a single image goes by tag too', async () => {
    const image = await makeImage('single', { layers: [100] });
    await pushImageSet(registry.url, 'library/single', 'v1', image);
    await expectPushed('library/single', 'v1', image);
  });

  test('a refusal names the request and the status', async () => {
    const broken: ImageSet = { blobs: new Map(images.registry.blobs), root: images.registry.root };
    broken.blobs.delete(parseManifest(images.registry, images.registry.root).config!.digest);
    await expect(pushImageSet(registry.url, 'broken', 'v1', broken)).rejects.toThrow(
      new RegExp(`PUT ${registry.url}/v2/broken/manifests/v1: HTTP 400`),
    );
  });
});
