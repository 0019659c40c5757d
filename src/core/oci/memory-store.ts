import { pipeline, Readable } from 'node:stream';
import { assertDigest, isDigest, sha256, verifyBytes, VerifyingStream } from './digest.ts';
import { isManifest, MAX_MANIFEST_BYTES, type Descriptor, type Manifest } from './descriptor.ts';
import type { RegistryReference } from './reference.ts';
import type { BlobContent, PushBlobOptions, Repositories, Repository } from './storage.ts';

type RepositoryName = Pick<RegistryReference, 'registry' | 'repository'>;

/** distribution/reference's tag grammar. */
const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * oras-go's content/memory: one repository's content in memory, by digest, and its tags. It reads as a
 * ReadOnlyStorage (every read verified against its descriptor) and is written as a Target that checks what it is
 * given as a registry does: a blob must match its descriptor, a manifest pushed by digest must have that digest, and
 * what a manifest points at (its subject aside) must be there first. For tests: the far side without a registry.
 */
export class MemoryStore implements Repository {
  readonly location: string;
  readonly repository: string;
  private readonly content = new Map<string, { descriptor: Descriptor; bytes: Uint8Array }>();
  private readonly tagged = new Map<string, Descriptor>();
  /** Another repository of the same registry by name, for `mountFrom`; none: mounts are ignored (then it uploads). */
  private readonly mountable: (repository: string) => MemoryStore | undefined;

  constructor(name: RepositoryName, mountable: (repository: string) => MemoryStore | undefined = () => undefined) {
    this.repository = name.repository;
    this.location = `${name.registry}/${name.repository}`;
    this.mountable = mountable;
  }

  async resolve(selector: string): Promise<Descriptor> {
    const found = isDigest(selector) ? this.content.get(selector)?.descriptor : this.tagged.get(selector);
    if (found === undefined || !isManifest(found.mediaType)) {
      throw new Error(`${this.location}: manifest ${isDigest(selector) ? '@' : ':'}${selector} not found`);
    }
    return { ...found };
  }

  async fetchManifest(descriptor: Descriptor): Promise<Uint8Array> {
    const what = `manifest ${this.location}@${descriptor.digest}`;
    if (descriptor.size > MAX_MANIFEST_BYTES) throw new Error(`${what}: over the ${MAX_MANIFEST_BYTES}-byte limit for manifests`);
    const bytes = this.held(descriptor.digest, what);
    verifyBytes(what, bytes, descriptor);
    return bytes;
  }

  /** A stream that fails instead of ending when the blob does not match the descriptor (its size, say). */
  async fetchBlob(descriptor: Descriptor): Promise<Readable> {
    const what = `blob ${this.location}@${descriptor.digest}`;
    const bytes = this.held(descriptor.digest, what);
    return pipeline(Readable.from([Buffer.from(bytes)]), new VerifyingStream(what, descriptor), () => undefined);
  }

  async exists(descriptor: Descriptor): Promise<boolean> {
    return this.content.has(descriptor.digest);
  }

  async blobExists(digest: string): Promise<boolean> {
    return this.content.has(digest);
  }

  /** Mounted when `mountFrom` names a repository of this registry that holds the blob; else read from `content`. */
  async pushBlob(descriptor: Descriptor, content: BlobContent, options: PushBlobOptions = {}): Promise<'mounted' | 'uploaded'> {
    const what = `blob ${this.location}@${descriptor.digest}`;
    assertDigest(descriptor.digest, what);
    const mounted = options.mountFrom === undefined ? undefined : this.mountable(options.mountFrom)?.content.get(descriptor.digest);
    if (mounted !== undefined) {
      this.store(mounted.descriptor, mounted.bytes);
      return 'mounted';
    }
    const stream = typeof content === 'function' ? content(0, descriptor.size) : content;
    const bytes = stream instanceof Uint8Array ? stream : await readUpTo(stream, descriptor.size + 1);
    verifyBytes(what, bytes, descriptor);
    this.store({ mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size }, bytes);
    return 'uploaded';
  }

  async pushManifest(reference: string, mediaType: string, bytes: Uint8Array): Promise<Descriptor> {
    const digest = sha256(bytes);
    const what = `manifest ${this.location}${isDigest(reference) ? '@' : ':'}${reference}`;
    if (isDigest(reference) && reference !== digest) throw new Error(`${what}: content is ${digest}`);
    if (!isDigest(reference) && !TAG.test(reference)) throw new Error(`${what}: neither a digest nor a tag`);
    if (!isManifest(mediaType)) throw new Error(`${what}: ${mediaType} is not a manifest media type`);
    if (bytes.byteLength > MAX_MANIFEST_BYTES) throw new Error(`${what}: over the ${MAX_MANIFEST_BYTES}-byte limit`);
    let json: Manifest;
    try {
      json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Manifest;
    } catch (error) {
      throw new Error(`${what}: not JSON: ${(error as Error).message}`);
    }
    const pointsAt = [...(json.manifests ?? []), ...(json.config ? [json.config] : []), ...(json.layers ?? [])];
    const unknown = pointsAt.find((child) => !this.content.has(child.digest));
    if (unknown !== undefined) throw new Error(`${what}: points at ${unknown.digest} (${unknown.mediaType}), not in ${this.location}`);
    const descriptor = { mediaType, digest, size: bytes.byteLength };
    this.store(descriptor, bytes);
    if (!isDigest(reference)) this.tagged.set(reference, descriptor);
    return { ...descriptor };
  }

  /** Every digest held (blobs and manifests), in the order each first arrived. */
  digests(): string[] {
    return [...this.content.keys()];
  }

  /** The tags, in the order each was first set. */
  tags(): string[] {
    return [...this.tagged.keys()];
  }

  private store(descriptor: Descriptor, bytes: Uint8Array): void {
    if (!this.content.has(descriptor.digest)) this.content.set(descriptor.digest, { descriptor, bytes });
  }

  private held(digest: string, what: string): Uint8Array {
    const entry = this.content.get(digest);
    if (entry === undefined) throw new Error(`${what}: not found`);
    return entry.bytes;
  }
}

/** Registries of MemoryStores: each repository opened empty on first use and kept; mounts work within a registry. */
export class MemoryRegistry implements Repositories {
  private readonly stores = new Map<string, MemoryStore>();

  repository(name: RepositoryName): MemoryStore {
    const location = `${name.registry}/${name.repository}`;
    let store = this.stores.get(location);
    if (store === undefined) {
      store = new MemoryStore(name, (other) => this.stores.get(`${name.registry}/${other}`));
      this.stores.set(location, store);
    }
    return store;
  }

  /** The locations of the repositories that hold anything, sorted. */
  repositories(): string[] {
    return [...this.stores]
      .filter(([, store]) => store.digests().length > 0)
      .map(([location]) => location)
      .sort();
  }
}

/** A stream's bytes, stopping once past `limit` (the content is wrong then, and reading on is pointless). */
async function readUpTo(stream: Readable, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(buffer);
    size += buffer.byteLength;
    if (size >= limit) break;
  }
  return Buffer.concat(chunks);
}
