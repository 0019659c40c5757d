/**
 * The benchmark's content: a gather artifact of about 400 MB (images, some multi-platform, layers from a few KB
 * to 80 MB, a base layer shared by most images) and small artifacts for the nothing-changed run. Layers are
 * pseudo-random bytes under a layer media type (the registry never looks inside), streamed straight into the
 * registry with a chunked upload while they are hashed, so nothing big is held in memory or on disk.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { isManifest, type Descriptor } from '../src/core/oci/descriptor.ts';
import {
  linuxAmd64,
  linuxArm64,
  makeGather,
  makeImage,
  makeIndex,
  manifestsChildrenFirst,
  pushImageSet,
  type Format,
  type GatherEntry,
  type ImageSet,
  type Layer,
} from '../testkit/images.ts';

export interface PushedArtifact {
  /** `127.0.0.1:PORT/repo:tag` */
  reference: string;
  repository: string;
  /** Every distinct blob of the artifact, manifests included. */
  blobs: Descriptor[];
  bytes: number;
  images: number;
  multiPlatform: number;
}

const CHUNK = 1024 * 1024;
const KB = 1000;
const MB = 1000 * 1000;
const LAYER_MEDIA_TYPE = {
  oci: 'application/vnd.oci.image.layer.v1.tar+gzip',
  docker: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
};

/** AES-CTR keystream of a seed: deterministic, and faster than any PRNG written in JavaScript. */
function* pseudoRandom(seed: string, size: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  for (let left = size; left > 0; left -= CHUNK) yield cipher.update(left >= CHUNK ? zeros : zeros.subarray(0, left));
}

async function expectStatus(what: string, response: Awaited<ReturnType<typeof request>>, status: number): Promise<void> {
  const text = await response.body.text();
  if (response.statusCode !== status) throw new Error(`${what}: HTTP ${response.statusCode} (expected ${status}): ${text}`);
}

/** POST, one streaming PATCH (hashed as it goes), then PUT ?digest=: the layer never sits whole anywhere. */
export async function pushLayer(registryUrl: string, repository: string, seed: string, size: number, format: Format): Promise<Layer> {
  const started = await request(`${registryUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  await expectStatus(`start upload of ${seed}`, started, 202);
  const hash = createHash('sha256');
  const body = Readable.from(
    (function* () {
      for (const chunk of pseudoRandom(seed, size)) {
        hash.update(chunk);
        yield chunk;
      }
    })(),
  );
  const patched = await request(new URL(String(started.headers.location), registryUrl), {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body,
  });
  await expectStatus(`upload of ${seed}`, patched, 202);
  const digest = 'sha256:' + hash.digest('hex');
  const target = new URL(String(patched.headers.location), registryUrl);
  target.searchParams.set('digest', digest);
  await expectStatus(`finish upload of ${seed}`, await request(target, { method: 'PUT', headers: { 'content-length': '0' } }), 201);
  // The registry holds the bytes; the image builders only need the descriptor (a raw layer is its own diff id).
  return { descriptor: { mediaType: LAYER_MEDIA_TYPE[format], digest, size }, bytes: new Uint8Array(0), diffId: digest };
}

/** Configs and manifests (small, in memory) through the test fixtures' pusher; the layers are already there. */
export async function pushWithoutLayers(
  registryUrl: string,
  repository: string,
  tag: string,
  set: ImageSet,
  layers: ReadonlySet<string>,
): Promise<void> {
  const small = new Map([...set.blobs].filter(([digest]) => !layers.has(digest)));
  await pushImageSet(registryUrl, repository, tag, { root: set.root, blobs: small });
}

interface ImagePlan {
  name: string;
  format?: Format;
  /** Per platform: layer names (see LAYERS) in order. */
  platforms: Array<{ platform: typeof linuxAmd64; layers: string[] }>;
}

/** Unique layers by name and size: about 400 MB in all. */
const LAYERS: Record<string, number> = {
  'base/amd64': 28 * MB,
  'base/arm64': 26 * MB,
  'web/amd64': 50 * MB,
  'web/arm64': 48 * MB,
  'web-assets/amd64': 3 * MB,
  'web-assets/arm64': 3 * MB,
  'web-conf': 12 * KB,
  db: 80 * MB,
  'db-init': 1.5 * MB,
  'db-conf': 4 * KB,
  cache: 18 * MB,
  'cache-conf': 600 * KB,
  'api/amd64': 35 * MB,
  'api/arm64': 33 * MB,
  'api-conf': 8 * KB,
  worker: 22 * MB,
  'worker-deps': 2 * MB,
  'worker-scripts': 40 * KB,
  'worker-conf': 3 * KB,
  tools: 9 * MB,
  'tools-extra': 500 * KB,
  proxy: 6 * MB,
  'proxy-rules': 200 * KB,
  'proxy-conf': 2 * KB,
  'metrics/amd64': 12 * MB,
  'metrics/arm64': 12 * MB,
  docs: 8 * MB,
  'docs-index': 64 * KB,
};

const amd64 = (...layers: string[]) => ({ platform: linuxAmd64, layers });
const arm64 = (...layers: string[]) => ({ platform: linuxArm64, layers });

const IMAGES: ImagePlan[] = [
  {
    name: 'web',
    platforms: [
      amd64('base/amd64', 'web/amd64', 'web-assets/amd64', 'web-conf'),
      arm64('base/arm64', 'web/arm64', 'web-assets/arm64', 'web-conf'),
    ],
  },
  { name: 'db', platforms: [amd64('base/amd64', 'db', 'db-init', 'db-conf')] },
  { name: 'cache', format: 'docker', platforms: [amd64('cache', 'cache-conf')] },
  { name: 'api', platforms: [amd64('base/amd64', 'api/amd64', 'api-conf'), arm64('base/arm64', 'api/arm64', 'api-conf')] },
  { name: 'worker', platforms: [amd64('base/amd64', 'worker-deps', 'worker', 'worker-scripts', 'worker-conf')] },
  { name: 'tools', format: 'docker', platforms: [amd64('tools', 'tools-extra')] },
  { name: 'proxy', platforms: [amd64('proxy', 'proxy-rules', 'proxy-conf')] },
  { name: 'metrics', platforms: [amd64('base/amd64', 'metrics/amd64'), arm64('base/arm64', 'metrics/arm64')] },
  { name: 'docs', platforms: [amd64('docs', 'docs-index')] },
  { name: 'worker-debug', platforms: [amd64('base/amd64', 'worker-deps', 'worker', 'tools')] },
];

/**
 * Pushes the big gather artifact as `repository:tag`: what ace-dt's gather makes, the multi-platform images as
 * indexes nested in the gather's index. skopeo 1.9 cannot copy --all an index nested in an index, so the same
 * images also go out as `repository:tag-flat`, a gather listing every platform's manifest directly: the same
 * configs and layers, only the nested index manifests differ.
 */
export async function pushBigArtifact(
  registry: { url: string; host: string },
  repository: string,
  tag: string,
  /** Multiplies every layer's size: 0.33 gives about 130 MB, 3.75 about 1.5 GB. */
  scale = 1,
): Promise<{ nested: PushedArtifact; flat: PushedArtifact }> {
  const layers = new Map<string, Layer>();
  const layerOf = async (name: string, format: Format): Promise<Layer> => {
    const key = `${format}:${name}`;
    let layer = layers.get(key);
    if (layer === undefined) {
      layer = await pushLayer(registry.url, repository, `bench/${name}`, Math.round((LAYERS[name] ?? 0) * scale), format);
      layers.set(key, layer);
    }
    return layer;
  };

  const nested: GatherEntry[] = [];
  const flat: GatherEntry[] = [];
  for (const plan of IMAGES) {
    const format = plan.format ?? 'oci';
    const source = `registry.example.com/bench/${plan.name}:1.0`;
    const platforms: ImageSet[] = [];
    for (const { platform, layers: names } of plan.platforms) {
      const imageLayers = [];
      for (const name of names) imageLayers.push(await layerOf(name, format));
      platforms.push(await makeImage(plan.name, { layers: imageLayers, platform, format }));
    }
    nested.push({ source, image: platforms.length === 1 ? (platforms[0] as ImageSet) : makeIndex(platforms) });
    flat.push(...platforms.map((image) => ({ source, image })));
  }
  const layerDescriptors = new Map([...layers.values()].map((layer) => [layer.descriptor.digest, layer.descriptor]));
  const push = async (entries: GatherEntry[], pushedTag: string): Promise<PushedArtifact> => {
    const gather = makeGather(entries);
    await pushWithoutLayers(registry.url, repository, pushedTag, gather, new Set(layerDescriptors.keys()));
    const manifests = new Map(manifestsChildrenFirst(gather).map((descriptor) => [descriptor.digest, descriptor]));
    const blobs: Descriptor[] = [...gather.blobs].map(
      ([digest, bytes]) =>
        manifests.get(digest) ??
        layerDescriptors.get(digest) ?? { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: bytes.byteLength },
    );
    return {
      reference: `${registry.host}/${repository}:${pushedTag}`,
      repository,
      blobs,
      bytes: blobs.reduce((sum, blob) => sum + blob.size, 0),
      images: IMAGES.length,
      multiPlatform: IMAGES.filter((plan) => plan.platforms.length > 1).length,
    };
  };
  return { nested: await push(nested, tag), flat: await push(flat, `${tag}-flat`) };
}

/** `count` small single-image artifacts (a few KB each) in repositories of their own: rows `name,reference`. */
export async function pushSmallArtifacts(
  registry: { url: string; host: string },
  count: number,
): Promise<Array<{ name: string; reference: string }>> {
  const rows = [];
  for (let i = 1; i <= count; i++) {
    const name = `app${String(i).padStart(2, '0')}`;
    const image = await makeImage(`bench-${name}`, { layers: [4096, 1024] });
    const gather = makeGather([{ source: `registry.example.com/apps/${name}:1.0`, image }]);
    await pushImageSet(registry.url, `bench/${name}`, 'v1', gather);
    rows.push({ name, reference: `${registry.host}/bench/${name}:v1` });
  }
  return rows;
}

/** Registry paths of every blob: manifests through /manifests/ (the only place the registry serves them). */
export function blobPaths(artifact: PushedArtifact): string[] {
  return artifact.blobs.map((blob) => `/v2/${artifact.repository}/${isManifest(blob.mediaType) ? 'manifests' : 'blobs'}/${blob.digest}`);
}
