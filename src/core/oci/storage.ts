import type { Readable } from 'node:stream';
import type { Descriptor } from './descriptor.ts';
import type { Reference, RegistryReference } from './reference.ts';

/**
 * Where content lives, seen read-only (oras-go's ReadOnlyStorage + Resolver): a registry repository or an
 * OCI image layout. The graph walk and the tar writer only ever talk to this.
 */
export interface ReadOnlyStorage {
  /** For messages: `localhost:5000/gather` or `ocidir://examples/store`. */
  readonly location: string;
  /** A tag or digest to the descriptor of the manifest it names (mediaType, digest, size). */
  resolve(selector: string): Promise<Descriptor>;
  /**
   * resolve and fetchManifest at once (oras-go's ReferenceFetcher), for an artifact whose graph is walked next: one
   * GET where a registry's resolve is a HEAD and the walk's first fetch a GET. Storages that resolve locally leave it out.
   */
  fetchReference?(selector: string): Promise<FetchedManifest>;
  /** A manifest's bytes, verified against the descriptor and capped at MAX_MANIFEST_BYTES. */
  fetchManifest(descriptor: Descriptor): Promise<Uint8Array>;
  /** A blob as a stream that fails instead of ending when the content does not match the descriptor. */
  fetchBlob(descriptor: Descriptor, options?: FetchBlobOptions): Promise<Readable>;
  /**
   * Bytes `start` to `end` (inclusive) of a blob, for a reader that fetches a big blob in parts at once and joins them:
   * unverified (only the joined blob can be). Storages that cannot serve parts leave it out.
   */
  fetchBlobPart?(descriptor: Descriptor, start: number, end: number, options?: FetchBlobOptions): Promise<BlobPart>;
  exists(descriptor: Descriptor): Promise<boolean>;
  /** Opens connections for downloads to come, ahead of them (a registry's); storages without connections leave it out. */
  preconnect?(connections: number): void;
}

/** A manifest fetched by tag or digest: what resolve gives, and its bytes (matching it). */
export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

export interface FetchBlobOptions {
  /** What the blob is fetched for (`000002-tools.tar`): failure messages name it. A storage may ignore it. */
  context?: string;
}

/** What a storage sent for a part of a blob: those bytes, or (`whole`) the whole blob from its first byte instead. */
export interface BlobPart {
  whole: boolean;
  body: Readable;
}

/** Opens the storage a reference lives in: its registry repository, or its OCI layout directory. */
export interface Storages {
  open(reference: Reference): ReadOnlyStorage;
}

/** How a blob is pushed: `mountFrom` names another repository of the same registry that holds it. */
export interface PushBlobOptions {
  /** Mounted from there instead of uploaded when the target can and will; a target may ignore it (then it uploads). */
  mountFrom?: string;
}

/**
 * A blob's bytes from `start` up to `end` (exclusive), read again as often as asked: a blob inside a plain tar file.
 * A target may send a piece twice (a proxy refused it as too big), which a stream cannot do.
 */
export type ByteRangeReader = (start: number, end: number) => Readable;

/** What a blob is pushed from. */
export type BlobContent = Readable | Uint8Array | ByteRangeReader;

/**
 * Where the far side writes (oras-go's Target, as far as pushing goes): a registry repository or an in-memory store.
 * Pushed content is verified against its descriptor; a manifest is pushed after everything it points at.
 */
export interface Target {
  /** For messages: `registry.internal:5000/mirror/tools`. */
  readonly location: string;
  /** The repository's name on its registry (`mirror/tools`): what another repository there mounts from. */
  readonly repository: string;
  exists(descriptor: Descriptor): Promise<boolean>;
  blobExists(digest: string): Promise<boolean>;
  /** Stores a blob from `content` (or mounts it, see PushBlobOptions); says which it did. */
  pushBlob(descriptor: Descriptor, content: BlobContent, options?: PushBlobOptions): Promise<'mounted' | 'uploaded'>;
  /** Stores a manifest under a tag or its digest; returns its descriptor. */
  pushManifest(reference: string, mediaType: string, bytes: Uint8Array): Promise<Descriptor>;
}

/** A repository read and written (oras-go's registry.Repository): what the far side loads into and copies from. */
export interface Repository extends ReadOnlyStorage, Target {}

/** Opens a registry's repositories by name (oras-go's registry.Registry): a registry client, or an in-memory registry. */
export interface Repositories {
  repository(reference: Pick<RegistryReference, 'registry' | 'repository'>): Repository;
}
