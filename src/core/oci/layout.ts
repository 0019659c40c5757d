import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { assertDigest, digestHex, isDigest, verifyBytes, VerifyingStream } from './digest.ts';
import { Annotation, isManifest, MAX_MANIFEST_BYTES, MediaType, type Descriptor, type Manifest } from './descriptor.ts';
import type { ReadOnlyStorage } from './storage.ts';

/** index.json is read whole; a layout listing this much is not one we were meant to read. */
export const MAX_INDEX_JSON_BYTES = 32 * 1024 * 1024;
/** The `oci-layout` file's version: the only one there is. */
export const LAYOUT_VERSION = '1.0.0';
export const OCI_LAYOUT_FILE = JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION });

/**
 * An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) as a read-only source.
 *
 * A tag names the index.json entry whose `org.opencontainers.image.ref.name` equals it. Failing that, an entry
 * whose ref.name is a full reference ending in `:TAG` (containerd and some skopeo users write
 * `example.com/repo:TAG`) matches, unless several such entries name different digests. A digest names an
 * index.json entry or, failing that, any manifest blob in the layout.
 */
export class OciLayout implements ReadOnlyStorage {
  readonly location: string;
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.location = `ocidir://${dir}`;
  }

  async resolve(selector: string): Promise<Descriptor> {
    const manifests = await this.indexManifests();
    if (isDigest(selector)) {
      const listed = manifests.find((descriptor) => descriptor.digest === selector);
      return listed ? this.manifestDescriptor(listed, selector) : this.resolveBlob(selector);
    }
    const named = (descriptor: Descriptor) => descriptor.annotations?.[Annotation.refName];
    let matches = manifests.filter((descriptor) => named(descriptor) === selector);
    if (matches.length === 0) matches = manifests.filter((descriptor) => endsWithTag(named(descriptor), selector));
    const digests = [...new Set(matches.map((descriptor) => descriptor.digest))];
    if (digests.length > 1) {
      const listing = matches.map((descriptor) => `${named(descriptor)} → ${descriptor.digest}`).join(', ');
      throw new Error(`${this.location}: tag ${JSON.stringify(selector)} is ambiguous in index.json (${listing})`);
    }
    const [match] = matches;
    if (match === undefined) {
      const tags = manifests.map(named).filter((name) => name !== undefined);
      const known = tags.length > 0 ? `tags there: ${tags.join(', ')}` : 'it names no tags';
      throw new Error(`${this.location}: tag ${JSON.stringify(selector)} not found in index.json (${known})`);
    }
    return this.manifestDescriptor(match, selector);
  }

  async fetchManifest(descriptor: Descriptor): Promise<Uint8Array> {
    const what = `${this.location}@${descriptor.digest}`;
    if (descriptor.size > MAX_MANIFEST_BYTES) {
      throw new Error(`${what}: manifest of ${descriptor.size} bytes is over the ${MAX_MANIFEST_BYTES} byte limit`);
    }
    const bytes = await this.readBlob(descriptor.digest, MAX_MANIFEST_BYTES);
    verifyBytes(what, bytes, descriptor);
    return bytes;
  }

  async fetchBlob(descriptor: Descriptor): Promise<Readable> {
    const path = this.blobPath(descriptor.digest);
    const handle = await open(path).catch((error: unknown) => {
      throw this.missing(descriptor.digest, error);
    });
    const verify = new VerifyingStream(`${this.location}@${descriptor.digest}`, descriptor);
    // The consumer sees every failure through `verify`, which pipeline destroys with it.
    return pipeline(handle.createReadStream(), verify, () => undefined);
  }

  async exists(descriptor: Descriptor): Promise<boolean> {
    try {
      return (await stat(this.blobPath(descriptor.digest))).isFile();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  private async indexManifests(): Promise<Descriptor[]> {
    const layoutFile = join(this.dir, 'oci-layout');
    let layout: unknown;
    try {
      layout = JSON.parse(await readFile(layoutFile, 'utf8'));
    } catch (error) {
      throw new Error(`${this.location}: not an OCI image layout (${layoutFile}: ${(error as Error).message})`);
    }
    if (typeof (layout as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion !== 'string') {
      throw new Error(`${this.location}: not an OCI image layout (${layoutFile} has no imageLayoutVersion)`);
    }
    const indexFile = join(this.dir, 'index.json');
    let index: Manifest;
    try {
      const { size } = await stat(indexFile);
      if (size > MAX_INDEX_JSON_BYTES) throw new Error(`${size} bytes is over the ${MAX_INDEX_JSON_BYTES} byte limit`);
      index = JSON.parse(await readFile(indexFile, 'utf8')) as Manifest;
    } catch (error) {
      throw new Error(`${this.location}: cannot read ${indexFile}: ${(error as Error).message}`);
    }
    if (!Array.isArray(index?.manifests)) throw new Error(`${this.location}: ${indexFile} has no manifests list`);
    return index.manifests;
  }

  /** Only what a registry's resolve gives too, so callers see the same from both kinds of source. */
  private manifestDescriptor(listed: Descriptor, selector: string): Descriptor {
    const where = `${this.location}: index.json entry for ${JSON.stringify(selector)}`;
    assertDigest(listed.digest, where);
    if (!isManifest(listed.mediaType) || !Number.isSafeInteger(listed.size)) {
      throw new Error(`${where} is not a manifest descriptor: ${JSON.stringify(listed)}`);
    }
    return { mediaType: listed.mediaType, digest: listed.digest, size: listed.size };
  }

  /** A digest index.json does not list: the blob itself says what it is. */
  private async resolveBlob(digest: string): Promise<Descriptor> {
    const what = `${this.location}@${digest}`;
    const bytes = await this.readBlob(digest, MAX_MANIFEST_BYTES);
    verifyBytes(what, bytes, { digest, size: bytes.byteLength });
    let json: Manifest;
    try {
      json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Manifest;
    } catch {
      throw new Error(`${what}: not in index.json and not a manifest (not JSON)`);
    }
    const mediaType = json.mediaType ?? unlabelledManifestType(json);
    if (mediaType === undefined || !isManifest(mediaType)) {
      throw new Error(`${what}: not in index.json and not a manifest (media type ${JSON.stringify(mediaType)})`);
    }
    return { mediaType, digest, size: bytes.byteLength };
  }

  private async readBlob(digest: string, limit: number): Promise<Uint8Array> {
    const handle = await open(this.blobPath(digest)).catch((error: unknown) => {
      throw this.missing(digest, error);
    });
    try {
      const { size } = await handle.stat();
      if (size > limit) throw new Error(`${this.location}@${digest}: ${size} bytes is over the ${limit} byte limit for a manifest`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  private blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digestHex(assertDigest(digest, this.location)));
  }

  private missing(digest: string, error: unknown): Error {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'is missing' : `cannot be read (${(error as Error).message})`;
    return new Error(`${this.location}: blob ${digest} ${why} (${this.blobPath(digest)})`);
  }
}

/** `example.com/repo:TAG` for TAG: the colon must follow the last slash, so `host:PORT/repo` never matches PORT. */
function endsWithTag(name: string | undefined, tag: string): boolean {
  if (name === undefined) return false;
  const colon = name.lastIndexOf(':');
  return colon > 0 && colon > name.lastIndexOf('/') && name.slice(colon + 1) === tag && !name.includes('@');
}

/** The OCI spec lets a manifest or index leave out mediaType; its shape tells which it is (an image config has no schemaVersion). */
function unlabelledManifestType(json: Manifest): string | undefined {
  if (json.schemaVersion !== 2) return undefined;
  if (Array.isArray(json.manifests)) return MediaType.ociIndex;
  if (typeof json.config?.digest === 'string' && Array.isArray(json.layers)) return MediaType.ociManifest;
  return undefined;
}
