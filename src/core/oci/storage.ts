import type { Readable } from 'node:stream';
import type { Descriptor } from './descriptor.ts';
import type { Reference } from './reference.ts';

/**
 * Where content lives, seen read-only (oras-go's ReadOnlyStorage + Resolver): a registry repository or an
 * OCI image layout. The graph walk and the tar writer only ever talk to this.
 */
export interface ReadOnlyStorage {
  /** For messages: `localhost:5000/gather` or `ocidir://examples/store`. */
  readonly location: string;
  /** A tag or digest to the descriptor of the manifest it names (mediaType, digest, size). */
  resolve(selector: string): Promise<Descriptor>;
  /** A manifest's bytes, verified against the descriptor and capped at MAX_MANIFEST_BYTES. */
  fetchManifest(descriptor: Descriptor): Promise<Uint8Array>;
  /** A blob as a stream that fails instead of ending when the content does not match the descriptor. */
  fetchBlob(descriptor: Descriptor): Promise<Readable>;
  exists(descriptor: Descriptor): Promise<boolean>;
}

/** Opens the storage a reference lives in: its registry repository, or its OCI layout directory. */
export interface Storages {
  open(reference: Reference): ReadOnlyStorage;
}
