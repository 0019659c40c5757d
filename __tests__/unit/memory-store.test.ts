import { Readable } from 'node:stream';
import { beforeAll, describe, expect, test } from 'vitest';
import { DigestMismatchError, sha256 } from '../../src/core/oci/digest.ts';
import { MediaType, type Descriptor } from '../../src/core/oci/descriptor.ts';
import { MemoryRegistry, MemoryStore } from '../../src/core/oci/memory-store.ts';
import { copyBlob } from '../../src/core/registry/blob-copy.ts';
import { makeImage, makeIndex, parseManifest, storeImageSet, type ImageSet } from '../../testkit/images.ts';

let image: ImageSet;
let layer: Descriptor;
let config: Descriptor;

beforeAll(async () => {
  image = await makeImage('memory', { layers: [3000] });
  const manifest = parseManifest(image, image.root);
  config = manifest.config!;
  layer = manifest.layers![0]!;
});

const bytesOf = (set: ImageSet, descriptor: Descriptor) => set.blobs.get(descriptor.digest)!;
const bare = ({ mediaType, digest, size }: Descriptor): Descriptor => ({ mediaType, digest, size });

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A stream that fails the test if anyone reads it. */
function untouchable(): Readable {
  return new Readable({
    read() {
      this.destroy(new Error('the content was read'));
    },
  });
}

describe('MemoryStore as a Target', () => {
  test('blobs from bytes or a stream, manifests by tag: read back verified, resolvable, in arrival order', async () => {
    const store = new MemoryStore({ registry: 'far.example', repository: 'mirror/tools' });
    expect(store.location).toBe('far.example/mirror/tools');
    expect(store.repository).toBe('mirror/tools');
    expect(await store.pushBlob(config, bytesOf(image, config))).toBe('uploaded');
    expect(await store.pushBlob(layer, Readable.from([Buffer.from(bytesOf(image, layer))]))).toBe('uploaded');
    expect(await store.blobExists(layer.digest)).toBe(true);
    expect(await store.exists(config)).toBe(true);
    expect(await store.exists(image.root)).toBe(false);

    const pushed = await store.pushManifest('v1', image.root.mediaType, bytesOf(image, image.root));
    expect(pushed).toEqual(bare(image.root));
    expect(await store.resolve('v1')).toEqual(bare(image.root));
    expect(await store.resolve(image.root.digest)).toEqual(bare(image.root));
    expect(Buffer.from(await store.fetchManifest(image.root))).toEqual(Buffer.from(bytesOf(image, image.root)));
    expect(await readAll(await store.fetchBlob(layer))).toEqual(Buffer.from(bytesOf(image, layer)));
    expect(store.digests()).toEqual([config.digest, layer.digest, image.root.digest]);
    expect(store.tags()).toEqual(['v1']);
  });

  test('a blob that does not match its descriptor is refused and not stored (bytes, short stream, long stream)', async () => {
    const store = new MemoryStore({ registry: 'far.example', repository: 'r' });
    const wrong = Buffer.from('not the layer');
    await expect(store.pushBlob(layer, wrong)).rejects.toThrow(DigestMismatchError);
    await expect(store.pushBlob(layer, wrong)).rejects.toThrow(new RegExp(`blob far\\.example/r@${layer.digest}: content does not match`));
    const content = Buffer.from(bytesOf(image, layer));
    const short = new RegExp(`expected ${layer.digest} ${layer.size} bytes, got sha256:[0-9a-f]{64} ${layer.size - 1} bytes`);
    await expect(store.pushBlob(layer, Readable.from([content.subarray(1)]))).rejects.toThrow(short);
    await expect(store.pushBlob(layer, Readable.from([content, Buffer.from('x')]))).rejects.toThrow(DigestMismatchError);
    await expect(store.pushBlob({ ...layer, digest: 'sha256:abc' }, content)).rejects.toThrow(/not a sha256 digest/);
    expect(store.digests()).toEqual([]);
  });

  test('manifests: pushed after what they point at, by their own digest or a valid tag, of a manifest media type', async () => {
    const store = new MemoryStore({ registry: 'far.example', repository: 'r' });
    const manifest = bytesOf(image, image.root);
    await expect(store.pushManifest('v1', image.root.mediaType, manifest)).rejects.toThrow(
      `manifest far.example/r:v1: points at ${config.digest} (${config.mediaType}), not in far.example/r`,
    );
    await store.pushBlob(config, bytesOf(image, config));
    await expect(store.pushManifest('v1', image.root.mediaType, manifest)).rejects.toThrow(new RegExp(`points at ${layer.digest}`));
    await store.pushBlob(layer, bytesOf(image, layer));
    const other = sha256('other');
    await expect(store.pushManifest(other, image.root.mediaType, manifest)).rejects.toThrow(
      new RegExp(`manifest far\\.example/r@${other}: content is ${image.root.digest}`),
    );
    await expect(store.pushManifest('-bad', image.root.mediaType, manifest)).rejects.toThrow(/r:-bad: neither a digest nor a tag/);
    await expect(store.pushManifest('v1', 'application/octet-stream', manifest)).rejects.toThrow(
      'manifest far.example/r:v1: application/octet-stream is not a manifest media type',
    );
    await expect(store.pushManifest('v1', MediaType.ociManifest, Buffer.from('{'))).rejects.toThrow(/r:v1: not JSON/);
    expect(store.digests()).toEqual([config.digest, layer.digest]);
    expect(await store.pushManifest(image.root.digest, image.root.mediaType, manifest)).toEqual(bare(image.root));
    expect(store.tags()).toEqual([]);
  });

  test('an index needs its manifests first', async () => {
    const arm = await makeImage('memory-arm', { layers: [100] });
    const index = makeIndex([image, arm]);
    const store = new MemoryStore({ registry: 'far.example', repository: 'r' });
    await storeImageSet(store, 'amd64', image);
    await expect(store.pushManifest('multi', index.root.mediaType, bytesOf(index, index.root))).rejects.toThrow(
      `manifest far.example/r:multi: points at ${arm.root.digest} (${MediaType.ociManifest}), not in far.example/r`,
    );
    await storeImageSet(store, 'multi', index);
    expect(await store.resolve('multi')).toEqual(bare(index.root));
  });
});

describe('MemoryStore as a ReadOnlyStorage', () => {
  let store: MemoryStore;
  beforeAll(async () => {
    store = new MemoryStore({ registry: 'far.example', repository: 'r' });
    await storeImageSet(store, 'v1', image);
  });

  test('resolve: an unknown tag or digest, or the digest of a blob that is no manifest, is not found', async () => {
    await expect(store.resolve('v2')).rejects.toThrow('far.example/r: manifest :v2 not found');
    await expect(store.resolve(sha256('nothing'))).rejects.toThrow(`far.example/r: manifest @${sha256('nothing')} not found`);
    await expect(store.resolve(layer.digest)).rejects.toThrow(`manifest @${layer.digest} not found`);
  });

  test('reads verify against the descriptor: a wrong size fails, a missing blob is named', async () => {
    await expect(store.fetchManifest({ ...image.root, size: image.root.size + 1 })).rejects.toThrow(DigestMismatchError);
    await expect(readAll(await store.fetchBlob({ ...layer, size: layer.size - 1 }))).rejects.toThrow(DigestMismatchError);
    await expect(readAll(await store.fetchBlob({ ...layer, size: layer.size + 1 }))).rejects.toThrow(/content does not match/);
    const absent = { ...layer, digest: sha256('absent') };
    await expect(store.fetchBlob(absent)).rejects.toThrow(`blob far.example/r@${absent.digest}: not found`);
    const absentManifest = { ...image.root, digest: absent.digest };
    await expect(store.fetchManifest(absentManifest)).rejects.toThrow(`manifest far.example/r@${absent.digest}: not found`);
    await expect(store.fetchManifest({ ...image.root, size: 5 * 1024 * 1024 })).rejects.toThrow(/over the 4194304-byte limit/);
  });
});

describe('MemoryRegistry', () => {
  test('one store per repository, opened empty and kept; only those holding something are listed', async () => {
    const registry = new MemoryRegistry();
    const tools = registry.repository({ registry: 'far.example', repository: 'mirror/tools' });
    expect(registry.repository({ registry: 'far.example', repository: 'mirror/tools' })).toBe(tools);
    registry.repository({ registry: 'far.example', repository: 'mirror/empty' });
    expect(registry.repositories()).toEqual([]);
    await tools.pushBlob(layer, bytesOf(image, layer));
    await registry.repository({ registry: 'other.example', repository: 'a' }).pushBlob(config, bytesOf(image, config));
    expect(registry.repositories()).toEqual(['far.example/mirror/tools', 'other.example/a']);
  });

  test('mountFrom a repository of the same registry that holds the blob mounts without reading; else it uploads', async () => {
    const registry = new MemoryRegistry();
    const source = registry.repository({ registry: 'far.example', repository: 'mirror/ops' });
    await source.pushBlob(layer, bytesOf(image, layer));
    const target = registry.repository({ registry: 'far.example', repository: 'mirror/tools' });
    expect(await target.pushBlob(layer, untouchable(), { mountFrom: 'mirror/ops' })).toBe('mounted');
    expect(target.digests()).toEqual([layer.digest]);
    expect(await target.pushBlob(config, bytesOf(image, config), { mountFrom: 'mirror/ops' })).toBe('uploaded');
    expect(await target.pushBlob(config, bytesOf(image, config), { mountFrom: 'mirror/none' })).toBe('uploaded');
    const standalone = new MemoryStore({ registry: 'far.example', repository: 'alone' });
    await expect(standalone.pushBlob(layer, untouchable(), { mountFrom: 'mirror/ops' })).rejects.toThrow('the content was read');
  });

  test('copyBlob: mounted within a registry, streamed through (and verified) across registries', async () => {
    const registry = new MemoryRegistry();
    const source = registry.repository({ registry: 'far.example', repository: 'mirror/ops' });
    await source.pushBlob(layer, bytesOf(image, layer));
    const same = registry.repository({ registry: 'far.example', repository: 'library/caddy' });
    expect(await copyBlob(same, layer, source)).toBe('mounted');
    const elsewhere = registry.repository({ registry: 'other.example', repository: 'mirror/ops' });
    expect(await copyBlob(elsewhere, layer, source)).toBe('uploaded');
    expect(await readAll(await elsewhere.fetchBlob(layer))).toEqual(Buffer.from(bytesOf(image, layer)));
    await expect(copyBlob(elsewhere, { ...layer, digest: config.digest }, source)).rejects.toThrow(/not found/);
  });
});
