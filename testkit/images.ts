/**
 * Deterministic OCI content for tests and the example store: real layers (gzip'd tars umoci can unpack),
 * real image configs, OCI and Docker manifests and indexes, and ace-dt `mirror gather` artifacts.
 * Everything is built in memory as an ImageSet; sinks put one in a registry or an OCI image layout.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack as createPack } from 'tar-stream';
import { digestHex, sha256 } from '../src/core/oci/digest.ts';
import { successors } from '../src/core/oci/graph.ts';
import { Annotation, isManifest, MediaType, type Descriptor, type Manifest, type Platform } from '../src/core/oci/descriptor.ts';
import type { Target } from '../src/core/oci/storage.ts';

/** Content addressed by digest, and the manifest or index it hangs from. */
export interface ImageSet {
  blobs: Map<string, Uint8Array>;
  root: Descriptor;
}

export interface Layer {
  descriptor: Descriptor;
  bytes: Uint8Array;
  /** The digest of the uncompressed tar: what the config's rootfs.diff_ids lists. */
  diffId: string;
}

export type Format = 'oci' | 'docker';

export const GATHER_ARTIFACT_TYPE = 'application/vnd.act3-ace.data.gather+json';
export const linuxAmd64: Platform = { architecture: 'amd64', os: 'linux' };
export const linuxArm64: Platform = { architecture: 'arm64', os: 'linux' };

const mediaTypes = {
  oci: { config: 'application/vnd.oci.image.config.v1+json', layer: 'application/vnd.oci.image.layer.v1.tar+gzip' },
  docker: {
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
} as const;

/** mulberry32 seeded from the seed's SHA-256: the same seed always gives the same bytes. */
export function seededBytes(seed: string, size: number): Uint8Array {
  let state = Buffer.from(digestHex(sha256(seed)), 'hex').readUInt32BE(0);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 4) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const word = (t ^ (t >>> 14)) >>> 0;
    for (let j = 0; j < 4 && i + j < size; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
  }
  return out;
}

/** A gzip'd tar holding `data/<seed>.bin` with `size` pseudo-random bytes. */
export async function makeLayer(seed: string, size: number, format: Format = 'oci'): Promise<Layer> {
  const tar = createPack();
  const header = { mtime: new Date(0), uid: 0, gid: 0 };
  tar.entry({ ...header, name: 'data', type: 'directory', mode: 0o755 });
  tar.entry({ ...header, name: `data/${seed.replace(/[^A-Za-z0-9._-]/g, '_')}.bin`, mode: 0o644 }, seededBytes(seed, size));
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  const uncompressed = Buffer.concat(chunks);
  const bytes = gzipSync(uncompressed);
  return {
    descriptor: { mediaType: mediaTypes[format].layer, digest: sha256(bytes), size: bytes.byteLength },
    bytes,
    diffId: sha256(uncompressed),
  };
}

export interface ImageOptions {
  /** Layers, or sizes of layers to make (seeded by the image name and position). Default: one of 2 KiB. */
  layers?: Array<Layer | number>;
  platform?: Platform;
  format?: Format;
}

/** A single-platform image: config (architecture, os, rootfs.diff_ids) and manifest. Its root carries the platform. */
export async function makeImage(name: string, options: ImageOptions = {}): Promise<ImageSet> {
  const format = options.format ?? 'oci';
  const platform = options.platform ?? linuxAmd64;
  const layers = await Promise.all(
    (options.layers ?? [2048]).map((layer, i) =>
      typeof layer === 'number' ? makeLayer(`${name}/${platform.os}/${platform.architecture}/${i}`, layer, format) : layer,
    ),
  );
  const blobs = new Map<string, Uint8Array>();
  const config = json({
    architecture: platform.architecture,
    os: platform.os,
    config: { Labels: { 'org.opencontainers.image.title': name } },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `layer ${i} of ${name}` })),
  });
  const configDescriptor = add(blobs, mediaTypes[format].config, config);
  for (const layer of layers) blobs.set(layer.descriptor.digest, layer.bytes);
  const manifest = json({
    schemaVersion: 2,
    mediaType: format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest,
    config: configDescriptor,
    layers: layers.map((layer) => layer.descriptor),
  });
  const root = add(blobs, format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest, manifest);
  return { blobs, root: { ...root, platform } };
}

/** A multi-platform image: an OCI index or a Docker manifest list of images whose roots carry their platforms. */
export function makeIndex(images: ImageSet[], format: Format = 'oci'): ImageSet {
  const mediaType = format === 'oci' ? MediaType.ociIndex : MediaType.dockerManifestList;
  const blobs = mergeBlobs(images);
  const index = json({ schemaVersion: 2, mediaType, manifests: images.map((image) => image.root) });
  return { blobs, root: add(blobs, mediaType, index) };
}

export interface GatherEntry {
  /** The original reference, e.g. `docker.io/library/caddy:2.7.6`. */
  source: string;
  image: ImageSet;
}

export interface GatherOptions {
  /** ace-dt's `--index-fallback`: indexes go to the `vnd.act3-ace.data.extra-manifests` annotation. */
  indexFallback?: boolean;
  annotations?: Record<string, string>;
}

/**
 * What `ace-dt mirror gather` pushes: an OCI index of the gathered images (a nested index for a multi-platform
 * one), each annotated with its source, and the layer size totals in the index annotations.
 */
export function makeGather(entries: GatherEntry[], options: GatherOptions = {}): ImageSet {
  const blobs = mergeBlobs(entries.map((entry) => entry.image));
  const children = entries.map(({ source, image }) => ({
    ...image.root,
    annotations: { [Annotation.manifestSource]: source, [Annotation.refName]: source },
  }));
  const nested = (descriptor: Descriptor) => options.indexFallback === true && !isImageManifest(descriptor);
  const layers = entries.flatMap((entry) => layersOf(entry.image));
  const unique = new Map(layers.map((layer) => [layer.digest, layer.size]));
  const annotations: Record<string, string> = {
    [Annotation.layerSizeTotal]: String(layers.reduce((sum, layer) => sum + layer.size, 0)),
    [Annotation.layerSizeDeduplicated]: String([...unique.values()].reduce((sum, size) => sum + size, 0)),
    ...options.annotations,
  };
  const extra = children.filter(nested);
  if (extra.length > 0) annotations[Annotation.extraManifests] = JSON.stringify(extra);
  const index = json({
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    artifactType: GATHER_ARTIFACT_TYPE,
    manifests: children.filter((child) => !nested(child)),
    annotations,
  });
  return { blobs, root: add(blobs, MediaType.ociIndex, index) };
}

/** An index that lists nothing itself and names `image` in its extra-manifests annotation (ace-dt's fallback, nested). */
export function makeExtraManifestsIndex(image: ImageSet): ImageSet {
  const blobs = new Map(image.blobs);
  const index = json({
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [],
    annotations: { [Annotation.extraManifests]: JSON.stringify([image.root]) },
  });
  return { blobs, root: add(blobs, MediaType.ociIndex, index) };
}

export const SIGNATURE_ARTIFACT_TYPE = 'application/vnd.dev.cosign.artifact.sig.v1+json';

/**
 * A referrer of `subject` as cosign and notation push one: an OCI manifest with an artifactType, the empty config,
 * one payload layer, and `subject`. Its root is the descriptor the referrers API lists (artifactType included).
 */
export function makeReferrer(subject: Descriptor, payload: string, artifactType = SIGNATURE_ARTIFACT_TYPE): ImageSet {
  const blobs = new Map<string, Uint8Array>();
  const config = add(blobs, 'application/vnd.oci.empty.v1+json', Buffer.from('{}'));
  const layer = add(blobs, 'application/vnd.dev.cosign.simplesigning.v1+json', Buffer.from(payload));
  const { mediaType, digest, size } = subject;
  const manifest = json({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType,
    config,
    layers: [layer],
    subject: { mediaType, digest, size },
  });
  return { blobs, root: { ...add(blobs, MediaType.ociManifest, manifest), artifactType } };
}

export interface TutorialImages {
  registry: ImageSet;
  grafana: ImageSet;
  caddy: ImageSet;
  /** Gather of registry and grafana. */
  sources1: ImageSet;
  /** Gather of grafana (shared with sources1) and caddy (a two-platform index). */
  sources2: ImageSet;
}

export const tutorialSources = {
  registry: 'docker.io/library/registry:2.8.3',
  grafana: 'docker.io/grafana/grafana:10.4.1',
  caddy: 'docker.io/library/caddy:2.7.6',
} as const;

export interface TutorialOptions extends GatherOptions {
  /** Multiplies every layer size (default 1: about 60 KB in all), for a demo that shows sizes people notice. */
  layerScale?: number;
}

/**
 * The tutorial's pair in miniature: sources1 = {registry (OCI), grafana (Docker v2)},
 * sources2 = {grafana, caddy (OCI index of amd64 and arm64 sharing a base layer)}.
 */
export async function tutorialImages(options: TutorialOptions = {}): Promise<TutorialImages> {
  const { layerScale = 1, ...gather } = options;
  const sizes = (...bytes: number[]) => bytes.map((size) => size * layerScale);
  const registry = await makeImage('registry', { layers: sizes(6000, 900, 300) });
  const grafana = await makeImage('grafana', { layers: sizes(9000, 4000, 139, 1200), format: 'docker' });
  const caddyBase = await makeLayer('caddy/base', 7000 * layerScale);
  const caddy = makeIndex([
    await makeImage('caddy', { layers: [caddyBase, ...sizes(3000)], platform: linuxAmd64 }),
    await makeImage('caddy', { layers: [caddyBase, ...sizes(3100)], platform: linuxArm64 }),
  ]);
  const sources1 = makeGather(
    [
      { source: tutorialSources.registry, image: registry },
      { source: tutorialSources.grafana, image: grafana },
    ],
    gather,
  );
  const sources2 = makeGather(
    [
      { source: tutorialSources.grafana, image: grafana },
      { source: tutorialSources.caddy, image: caddy },
    ],
    gather,
  );
  return { registry, grafana, caddy, sources1, sources2 };
}

/** The union of several sets' blobs (a gather shares its images' blobs). */
export function mergeBlobs(sets: ImageSet[]): Map<string, Uint8Array> {
  const blobs = new Map<string, Uint8Array>();
  for (const set of sets) for (const [digest, bytes] of set.blobs) blobs.set(digest, bytes);
  return blobs;
}

/** Manifests reachable from the root (extra-manifests included), each after those it points at. */
export function manifestsChildrenFirst(set: ImageSet): Descriptor[] {
  const ordered: Descriptor[] = [];
  const seen = new Set<string>();
  const visit = (descriptor: Descriptor) => {
    if (seen.has(descriptor.digest) || !isManifest(descriptor.mediaType)) return;
    seen.add(descriptor.digest);
    for (const child of successors(blobOf(set, descriptor), `image set @${descriptor.digest}`)) visit(child);
    ordered.push(descriptor);
  };
  visit(set.root);
  return ordered;
}

/** Every layer descriptor of every image manifest reachable from the root, duplicates kept. */
export function layersOf(set: ImageSet): Descriptor[] {
  return manifestsChildrenFirst(set).flatMap((descriptor) => parseManifest(set, descriptor).layers ?? []);
}

export function parseManifest(set: ImageSet, descriptor: Descriptor): Manifest {
  return JSON.parse(Buffer.from(blobOf(set, descriptor)).toString('utf8')) as Manifest;
}

/**
 * Pushes a set with the plain distribution API (monolithic POST+PUT uploads, manifests children first, the root
 * by tag), independently of our registry client so tests of that client have an outside witness.
 */
export async function pushImageSet(
  registryUrl: string,
  repository: string,
  tag: string,
  set: ImageSet,
  headers: Record<string, string> = {},
): Promise<void> {
  const manifests = manifestsChildrenFirst(set);
  const manifestDigests = new Set(manifests.map((descriptor) => descriptor.digest));
  const base = `${registryUrl}/v2/${repository}`;
  for (const [digest, bytes] of set.blobs) {
    if (manifestDigests.has(digest)) continue;
    const started = await request('POST', `${base}/blobs/uploads/`, headers, undefined, 202);
    const location = new URL(started.headers.get('location') ?? '', registryUrl);
    location.searchParams.set('digest', digest);
    await request('PUT', location.href, { ...headers, 'content-type': 'application/octet-stream' }, bytes, 201);
  }
  for (const descriptor of manifests) {
    const reference = descriptor.digest === set.root.digest ? tag : descriptor.digest;
    await request(
      'PUT',
      `${base}/manifests/${reference}`,
      { ...headers, 'content-type': descriptor.mediaType },
      blobOf(set, descriptor),
      201,
    );
  }
}

/** Puts a set into a Target (the in-memory store, say): other blobs first, manifests children first, the root by tag. */
export async function storeImageSet(target: Target, tag: string, set: ImageSet): Promise<void> {
  const manifests = manifestsChildrenFirst(set);
  const manifestDigests = new Set(manifests.map((descriptor) => descriptor.digest));
  for (const [digest, bytes] of set.blobs) {
    if (!manifestDigests.has(digest))
      await target.pushBlob({ mediaType: 'application/octet-stream', digest, size: bytes.byteLength }, bytes);
  }
  for (const descriptor of manifests) {
    await target.pushManifest(
      descriptor.digest === set.root.digest ? tag : descriptor.digest,
      descriptor.mediaType,
      blobOf(set, descriptor),
    );
  }
}

async function request(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: Uint8Array | undefined,
  expected: number,
): Promise<Response> {
  const response = await fetch(url, { method, headers, ...(body ? { body } : {}) });
  if (response.status !== expected) {
    throw new Error(`${method} ${url}: HTTP ${response.status} (expected ${expected}): ${await response.text()}`);
  }
  await response.arrayBuffer();
  return response;
}

/**
 * Writes blobs into an OCI image layout at `dir` and tags descriptors in its index.json (created or merged:
 * an entry with the same tag is replaced). Same input, same bytes, so rerunning is harmless.
 */
export async function writeOciLayout(
  dir: string,
  blobs: Map<string, Uint8Array>,
  tagged: Array<{ descriptor: Descriptor; tag: string }>,
): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  for (const [digest, bytes] of blobs) await writeFile(join(dir, 'blobs', 'sha256', digestHex(digest)), bytes);
  const tags = new Set(tagged.map((entry) => entry.tag));
  const kept = (await existingManifests(join(dir, 'index.json'))).filter(
    (descriptor) => !tags.has(descriptor.annotations?.[Annotation.refName] ?? ''),
  );
  const added = tagged.map(({ descriptor, tag }) => ({
    ...descriptor,
    annotations: { ...descriptor.annotations, [Annotation.refName]: tag },
  }));
  await writeFile(join(dir, 'index.json'), json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...kept, ...added] }));
}

async function existingManifests(indexFile: string): Promise<Descriptor[]> {
  try {
    return (JSON.parse(await readFile(indexFile, 'utf8')) as Manifest).manifests ?? [];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function isImageManifest(descriptor: Descriptor): boolean {
  return descriptor.mediaType === MediaType.ociManifest || descriptor.mediaType === MediaType.dockerManifest;
}

function blobOf(set: ImageSet, descriptor: Descriptor): Uint8Array {
  const bytes = set.blobs.get(descriptor.digest);
  if (bytes === undefined) throw new Error(`image set has no blob ${descriptor.digest} (${descriptor.mediaType})`);
  return bytes;
}

function json(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

function add(blobs: Map<string, Uint8Array>, mediaType: string, bytes: Uint8Array): Descriptor {
  const digest = sha256(bytes);
  blobs.set(digest, bytes);
  return { mediaType, digest, size: bytes.byteLength };
}
