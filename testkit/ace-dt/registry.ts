/**
 * The destination of ace-dt's batch-deserialize: one repository of a CNCF distribution registry (v2.8, what
 * docker-registry runs), reached through oras-go's remote.Repository. What the model keeps of their behaviour:
 * - Exists/Fetch/Push go to /manifests/ for manifest media types (remote.Repository's blobStore(desc)), else /blobs/;
 * - a descriptor's digest passes Repository.ParseReference and Reference.Digest first (their errors are the text);
 * - distribution finds a manifest by digest also when it was only uploaded as a blob (its manifest link paths
 *   include the _layers link "since 2.1.0"), and refuses a manifest whose blobs or child manifests it lacks;
 * - a blob upload whose content does not hash to its digest is refused (DIGEST_INVALID).
 * HTTP error texts are oras-go's format around distribution's error codes, with this model's URL.
 */
import { AceDtError, HarnessLimit } from './errors.ts';
import { unmarshalJson } from './go-json.ts';
import { quote } from './go-strconv.ts';
import { decodeIndex, decodeManifest, isIndex, isManifest, type GoDescriptor } from './image-spec.ts';
import { digestError, digestLike, type Storage } from './oras.ts';

/** Blob bytes kept for fetching back (a manifest uploaded as a blob is read back by the tracker); larger ones only noted. */
const KEEP_BYTES = 4 * 1024 * 1024;

export class DestinationRepository implements Storage {
  /** `HOST[:PORT]/REPOSITORY`, for messages. */
  readonly reference: string;
  private readonly blobs = new Map<string, Buffer | undefined>();
  private readonly manifests = new Map<string, Buffer>();

  constructor(reference: string) {
    this.reference = reference;
  }

  /** Every digest uploaded as a blob. */
  blobDigests(): Set<string> {
    return new Set(this.blobs.keys());
  }

  /** Every digest PUT as a manifest. */
  manifestDigests(): Set<string> {
    return new Set(this.manifests.keys());
  }

  exists(d: GoDescriptor): boolean {
    checkReference(d.digest);
    return isManifest(d.mediaType) ? this.manifests.has(d.digest) || this.blobs.has(d.digest) : this.blobs.has(d.digest);
  }

  fetch(d: GoDescriptor): Buffer {
    checkReference(d.digest);
    const endpoint = isManifest(d.mediaType) ? 'manifests' : 'blobs';
    const content = (isManifest(d.mediaType) ? this.manifests.get(d.digest) : undefined) ?? this.blobs.get(d.digest);
    if (content === undefined && this.blobs.has(d.digest))
      throw new HarnessLimit(`${d.digest} is over ${KEEP_BYTES} bytes: the model did not keep it`);
    if (content === undefined) throw new AceDtError(`${this.reference}@${d.digest}: not found`, 'not found');
    if (content.length !== d.size) throw new AceDtError(`GET ${quote(this.url(`${endpoint}/${d.digest}`))}: mismatch Content-Length`);
    return content;
  }

  push(d: GoDescriptor, content: Buffer): void {
    checkReference(d.digest);
    if (!isManifest(d.mediaType)) {
      if (digestLike(d.digest, content) !== d.digest) {
        throw this.httpError('PUT', 'blobs/uploads/', 400, 'digest invalid: provided digest did not match uploaded content');
      }
      this.blobs.set(d.digest, content.length <= KEEP_BYTES ? content : undefined);
      return;
    }
    for (const needed of this.referencesOf(d, content)) {
      const held = this.blobs.has(needed.digest) || (isIndex(d.mediaType) && this.manifests.has(needed.digest));
      if (!held) throw this.httpError('PUT', `manifests/${d.digest}`, 400, 'manifest blob unknown: blob unknown to registry');
    }
    this.manifests.set(d.digest, content);
  }

  /** What distribution checks before it accepts a manifest: an index's manifests, an image's config and layers. */
  private referencesOf(d: GoDescriptor, content: Buffer): GoDescriptor[] {
    const parsed = unmarshalJson(content);
    if (isIndex(d.mediaType)) return decodeIndex(parsed).manifests;
    const manifest = decodeManifest(parsed);
    return [manifest.config, ...manifest.layers];
  }

  private url(path: string): string {
    const slash = this.reference.indexOf('/');
    return `https://${this.reference.slice(0, slash)}/v2/${this.reference.slice(slash + 1)}/${path}`;
  }

  private httpError(method: string, path: string, status: number, message: string): AceDtError {
    return new AceDtError(`${method} ${quote(this.url(path))}: response status code ${status}: ${message}`);
  }
}

const TAG = /^[\w][\w.-]{0,127}$/;

/** remote.Repository.ParseReference(desc.Digest.String()) then Reference.Digest(): what a bad digest fails with. */
function checkReference(digest: string): void {
  if (digest.includes('/')) throw new HarnessLimit(`digest ${quote(digest)} holds a "/": oras-go would parse it as a full reference`);
  const at = digest.indexOf('@');
  const reference = at >= 0 ? digest.slice(at + 1) : digest;
  if (at >= 0 || reference.includes(':')) {
    const invalid = digestError(reference);
    if (invalid !== undefined) throw new AceDtError(`invalid reference: invalid digest ${quote(reference)}: ${invalid}`);
    return;
  }
  if (reference !== '' && !TAG.test(reference)) throw new AceDtError(`invalid reference: invalid tag ${quote(reference)}`);
  // A tag-like "digest" parses as a reference; Reference.Digest() then refuses it.
  throw new AceDtError(digestError(reference) as string);
}
