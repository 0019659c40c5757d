/**
 * ace-dt's TaggableTracker (internal/mirror/encoding/tracker.go), statement for statement, with the successor
 * function Deserialize gives it (encoding.Successors in fallback.go: oras-go's content.Successors plus the
 * `vnd.act3-ace.data.extra-manifests` of every index). It is where ace-dt counts missing blobs: a manifest it
 * knows of waits for its successors, and MissingBlobs() is every digest still waited for.
 */
import { AceDtPanic, withContext } from './errors.ts';
import { unmarshalJson } from './go-json.ts';
import { quote } from './go-strconv.ts';
import { decodeDescriptors, decodeIndex, decodeManifest, isIndex, isManifest, mediaTypes, type GoDescriptor } from './image-spec.ts';
import { fetchAll, tryPushBytes, type MemoryStore, type Storage } from './oras.ts';

interface IncompleteTaggable {
  descriptor: GoDescriptor;
  /** Successors not in the target yet: when it reaches 0 the manifest is pushed. */
  missing: number;
}

export class TaggableTracker {
  private readonly missingBlobs = new Map<string, IncompleteTaggable[]>();
  private readonly missingTaggables = new Map<string, IncompleteTaggable[]>();
  private readonly taggableDescriptors = new Map<string, GoDescriptor[]>();
  private readonly target: Storage;
  private readonly cache: MemoryStore;

  constructor(target: Storage, cache: MemoryStore) {
    this.target = target;
    this.cache = cache;
  }

  /** KnownTaggable: the (mediaType, digest, size) of a manifest known under this digest; panics when two disagree. */
  knownTaggable(digest: string): GoDescriptor | undefined {
    let known: GoDescriptor | undefined;
    for (const d of this.taggableDescriptors.get(digest) ?? []) {
      if (known !== undefined && (known.mediaType !== d.mediaType || known.size !== d.size)) {
        throw new AceDtPanic(`expected MediaType, Digest, and Size to match for all but found ${describe(known)} != ${describe(d)}`);
      }
      known = { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: new Map() };
    }
    return known;
  }

  /** MissingBlobs(): the digests waited for, blobs and manifests (Deserialize only counts them). */
  missing(): string[] {
    return [...this.missingBlobs.keys(), ...this.missingTaggables.keys()].sort();
  }

  /** NotifyManifest: the descriptor exists (its data may come later). */
  async notifyManifest(d: GoDescriptor): Promise<void> {
    if (await this.notify(d)) await this.complete(d);
  }

  /** AddBlob: a blob reached the target; manifests known under its digest are processed, waiters counted down. */
  async addBlob(digest: string): Promise<void> {
    for (const d of [...(this.taggableDescriptors.get(digest) ?? [])]) await this.addTaggable(d);
    for (const waiting of [...(this.missingBlobs.get(digest) ?? [])]) {
      waiting.missing--;
      if (waiting.missing === 0) await this.complete(waiting.descriptor);
    }
    this.missingBlobs.delete(digest);
  }

  /** complete: push the manifest from the cache, then every manifest waiting only for it, recursively. */
  private async complete(d: GoDescriptor): Promise<void> {
    const data = await withContext('fetching completed manifest from cache', () => fetchAll(this.cache, d));
    await withContext('pushing complete manifest', () => tryPushBytes(this.target, d, data));
    for (const waiting of [...(this.missingTaggables.get(d.digest) ?? [])]) {
      waiting.missing--;
      if (waiting.missing === 0) await this.complete(waiting.descriptor);
    }
    this.missingTaggables.delete(d.digest);
  }

  /** notifyManifest: true when the target has the manifest (as a manifest, or completed from its blob just now). */
  private async notify(d: GoDescriptor): Promise<boolean> {
    if (!isManifest(d.mediaType)) throw new AceDtPanic(`${quote(d.mediaType)} is not a media type of a manifest`);
    this.taggableDescriptors.set(d.digest, [...(this.taggableDescriptors.get(d.digest) ?? []), d]);
    if (await withContext('checking manifest existence at remote', () => this.target.exists(d))) {
      const data = await withContext('fetching manifest from remote', () => fetchAll(this.target, d));
      await withContext('populating cache with manifest', () => tryPushBytes(this.cache, d, data));
      return true;
    }
    const asBlob = { ...d, mediaType: mediaTypes.octetStream };
    if (!(await withContext('checking manifest existence at remote', () => this.target.exists(asBlob)))) return false;
    const data = await withContext('fetch manifest as a blob', () => fetchAll(this.target, asBlob));
    await withContext('populating cache with manifest (from blob)', () => tryPushBytes(this.cache, d, data));
    await this.addTaggable(d);
    return withContext('checking existence of manifest again', () => this.target.exists(d));
  }

  /** addTaggable: the manifest's successors; those not in the target are waited for, else it is complete. */
  private async addTaggable(d: GoDescriptor): Promise<void> {
    if (!isManifest(d.mediaType)) throw new AceDtPanic(`${quote(d.mediaType)} is not a media type of a manifest`);
    const children = await withContext('fetching successors', () => successors(this.cache, d));
    const taggable: IncompleteTaggable = { descriptor: d, missing: 0 };
    for (const child of children) {
      if (isManifest(child.mediaType)) {
        if (!(await this.notify(child))) {
          taggable.missing++;
          this.missingTaggables.set(child.digest, [...(this.missingTaggables.get(child.digest) ?? []), taggable]);
        }
      } else if (
        !(await withContext('checking existence of blob', () => this.target.exists({ ...child, mediaType: mediaTypes.octetStream })))
      ) {
        taggable.missing++;
        this.missingBlobs.set(child.digest, [...(this.missingBlobs.get(child.digest) ?? []), taggable]);
      }
    }
    if (taggable.missing === 0) await this.complete(d);
  }
}

/**
 * encoding.Successors: oras-go's content.Successors (Docker manifest: config, layers; OCI manifest: subject,
 * config, layers; Docker list: manifests; OCI index: subject, manifests; anything else: none), then for an index
 * the descriptors in its extra-manifests annotation.
 */
export async function successors(fetcher: MemoryStore, d: GoDescriptor): Promise<GoDescriptor[]> {
  const found = await withContext(`error finding successors for ${d.digest}`, () => contentSuccessors(fetcher, d));
  if (!isIndex(d.mediaType)) return found;
  const data = await withContext(`error fetching the content for ${d.digest}`, () => fetchAll(fetcher, d));
  const extra = decodeIndex(unmarshalJson(data)).annotations.get('vnd.act3-ace.data.extra-manifests');
  return extra === undefined ? found : [...found, ...decodeDescriptors(unmarshalJson(Buffer.from(extra)))];
}

async function contentSuccessors(fetcher: MemoryStore, d: GoDescriptor): Promise<GoDescriptor[]> {
  switch (d.mediaType) {
    case mediaTypes.dockerManifest: {
      const manifest = decodeManifest(unmarshalJson(await fetchAll(fetcher, d)));
      return [manifest.config, ...manifest.layers];
    }
    case mediaTypes.ociManifest: {
      const manifest = decodeManifest(unmarshalJson(await fetchAll(fetcher, d)));
      return [...(manifest.subject ? [manifest.subject] : []), manifest.config, ...manifest.layers];
    }
    case mediaTypes.dockerList:
      return decodeIndex(unmarshalJson(await fetchAll(fetcher, d))).manifests;
    case mediaTypes.ociIndex: {
      const index = decodeIndex(unmarshalJson(await fetchAll(fetcher, d)));
      return [...(index.subject ? [index.subject] : []), ...index.manifests];
    }
    default:
      return [];
  }
}

/** Go's %v of a *ocispec.Descriptor, as far as the panic text needs it. */
function describe(d: GoDescriptor): string {
  return `&{${d.mediaType} ${d.digest} ${d.size} [] map[] [] <nil> }`;
}
