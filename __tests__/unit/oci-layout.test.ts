import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestHex, DigestMismatchError, sha256 } from '../../src/core/oci/digest.ts';
import { OciLayout } from '../../src/core/oci/layout.ts';
import { MAX_MANIFEST_BYTES, MediaType, type Descriptor } from '../../src/core/oci/descriptor.ts';
import { makeImage, mergeBlobs, parseManifest, tutorialImages, writeOciLayout, type TutorialImages } from '../../testkit/images.ts';

let dir: string;
let images: TutorialImages;
let store: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bs-layout-'));
  images = await tutorialImages();
  store = join(dir, 'store');
  await writeOciLayout(store, mergeBlobs([images.sources1, images.sources2]), [
    { descriptor: images.sources1.root, tag: 'sources1' },
    { descriptor: images.sources2.root, tag: 'sources2' },
  ]);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const bare = ({ mediaType, digest, size }: Descriptor): Descriptor => ({ mediaType, digest, size });

async function copyOf(name: string, set = images.registry, tag = 'registry'): Promise<{ path: string; layout: OciLayout }> {
  const path = join(dir, name);
  await writeOciLayout(path, set.blobs, [{ descriptor: set.root, tag }]);
  return { path, layout: new OciLayout(path) };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('resolve', () => {
  test('a tag names the index.json entry with that ref.name', async () => {
    const layout = new OciLayout(store);
    expect(layout.location).toBe(`ocidir://${store}`);
    expect(await layout.resolve('sources1')).toEqual(bare(images.sources1.root));
    expect(await layout.resolve('sources2')).toEqual(bare(images.sources2.root));
  });

  test('a digest names an index.json entry, or any manifest blob the layout holds', async () => {
    const layout = new OciLayout(store);
    expect(await layout.resolve(images.sources2.root.digest)).toEqual(bare(images.sources2.root));
    // grafana is a Docker manifest only reachable through the gathers
    expect(await layout.resolve(images.grafana.root.digest)).toEqual(bare(images.grafana.root));
    expect(await layout.resolve(images.caddy.root.digest)).toEqual(bare(images.caddy.root));
  });

  test('a manifest blob without mediaType is known by its shape', async () => {
    const config = parseManifest(images.registry, images.registry.root).config!;
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: [] }));
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    const { layout } = await copyOf('unlabelled');
    await writeOciLayout(
      join(dir, 'unlabelled'),
      new Map([
        [sha256(manifest), manifest],
        [sha256(index), index],
      ]),
      [],
    );
    expect(await layout.resolve(sha256(manifest))).toEqual({
      mediaType: MediaType.ociManifest,
      digest: sha256(manifest),
      size: manifest.byteLength,
    });
    expect(await layout.resolve(sha256(index))).toEqual({ mediaType: MediaType.ociIndex, digest: sha256(index), size: index.byteLength });
  });

  test('a digest of a blob that is not a manifest, or of nothing, is refused', async () => {
    const layout = new OciLayout(store);
    const config = parseManifest(images.registry, images.registry.root).config!;
    await expect(layout.resolve(config.digest)).rejects.toThrow(`ocidir://${store}@${config.digest}: not in index.json and not a manifest`);
    const absent = sha256('absent');
    await expect(layout.resolve(absent)).rejects.toThrow(`ocidir://${store}: blob ${absent} is missing`);
  });

  test('a missing tag names the layout, the tag and the tags there are', async () => {
    await expect(new OciLayout(store).resolve('sources3')).rejects.toThrow(
      `ocidir://${store}: tag "sources3" not found in index.json (tags there: sources1, sources2)`,
    );
  });

  test('a full reference in ref.name matches its tag unless two such entries differ', async () => {
    const { path, layout } = await copyOf('full-reference', images.registry, 'example.com:5000/tools/registry:2.8.3');
    expect(await layout.resolve('2.8.3')).toEqual(bare(images.registry.root));
    await expect(layout.resolve('5000')).rejects.toThrow('tag "5000" not found');

    const other = await makeImage('other');
    await writeOciLayout(path, other.blobs, [{ descriptor: other.root, tag: 'example.com/other:2.8.3' }]);
    await expect(layout.resolve('2.8.3')).rejects.toThrow(/tag "2.8.3" is ambiguous in index.json/);

    // an exact ref.name wins over full references
    await writeOciLayout(path, other.blobs, [{ descriptor: other.root, tag: '2.8.3' }]);
    expect(await layout.resolve('2.8.3')).toEqual(bare(other.root));
  });

  test('a directory that is not a layout says so', async () => {
    await expect(new OciLayout(join(dir, 'nowhere')).resolve('x')).rejects.toThrow(
      `ocidir://${join(dir, 'nowhere')}: not an OCI image layout (${join(dir, 'nowhere', 'oci-layout')}: ENOENT`,
    );
    const { path, layout } = await copyOf('bad-index');
    await writeFile(join(path, 'index.json'), '{"schemaVersion":2}');
    await expect(layout.resolve('registry')).rejects.toThrow(`${join(path, 'index.json')} has no manifests list`);
  });
});

describe('content', () => {
  test('fetchManifest and fetchBlob give the bytes; exists tells what is there', async () => {
    const layout = new OciLayout(store);
    const manifest = await layout.fetchManifest(images.sources1.root);
    expect(Buffer.from(manifest).equals(Buffer.from(images.sources1.blobs.get(images.sources1.root.digest)!))).toBe(true);
    const layer = parseManifest(images.registry, images.registry.root).layers![0]!;
    const bytes = await readAll(await layout.fetchBlob(layer));
    expect(sha256(bytes)).toBe(layer.digest);
    expect(await layout.exists(layer)).toBe(true);
    expect(await layout.exists({ ...layer, digest: sha256('absent') })).toBe(false);
  });

  test('a corrupted manifest or blob is detected', async () => {
    const { path, layout } = await copyOf('corrupted');
    const manifest = images.registry.root;
    const layer = parseManifest(images.registry, manifest).layers![1]!;
    for (const { digest } of [manifest, layer]) {
      const file = join(path, 'blobs', 'sha256', digestHex(digest));
      const bytes = await readFile(file);
      bytes[bytes.byteLength - 3] = bytes[bytes.byteLength - 3]! ^ 1;
      await writeFile(file, bytes);
    }
    await expect(layout.fetchManifest(manifest)).rejects.toThrow(DigestMismatchError);
    await expect(readAll(await layout.fetchBlob(layer))).rejects.toThrow(
      `ocidir://${path}@${layer.digest}: content does not match its descriptor`,
    );
    await writeFile(join(path, 'blobs', 'sha256', digestHex(layer.digest)), 'short');
    await expect(readAll(await layout.fetchBlob(layer))).rejects.toThrow(/got sha256:\w+ 5 bytes/);
  });

  test('missing blobs, oversized manifests and digests that are not sha256 are refused', async () => {
    const layout = new OciLayout(store);
    const absent = { mediaType: 'application/octet-stream', digest: sha256('absent'), size: 6 };
    await expect(layout.fetchBlob(absent)).rejects.toThrow(`ocidir://${store}: blob ${absent.digest} is missing`);
    const huge = { ...images.sources1.root, size: MAX_MANIFEST_BYTES + 1 };
    await expect(layout.fetchManifest(huge)).rejects.toThrow('over the 4194304 byte limit');
    const escape = { mediaType: MediaType.ociManifest, digest: 'sha256:../../../etc/passwd', size: 1 };
    await expect(layout.fetchManifest(escape)).rejects.toThrow('not a sha256 digest');
    await expect(layout.fetchBlob(escape)).rejects.toThrow('not a sha256 digest');
  });
});
