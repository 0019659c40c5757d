/**
 * One registry repository through the distribution API (go-containerregistry's remote layer):
 * reads as a ReadOnlyStorage, plus the few writes the far side needs.
 */
import type { Readable } from 'node:stream';
import { DigestMismatchError, isDigest, sha256, verifyBytes } from '../oci/digest.ts';
import { MAX_MANIFEST_BYTES, isManifest, manifestMediaTypes, type Descriptor } from '../oci/descriptor.ts';
import type { RegistryReference } from '../oci/reference.ts';
import type { BlobContent, BlobPart, FetchBlobOptions, FetchedManifest, PushBlobOptions, Repository } from '../oci/storage.ts';
import { pullScope, pushScope } from './auth.ts';
import { downloadBlob, downloadBlobPart } from './blob-download.ts';
import { checkLength } from './content-length.ts';
import { sendBlob, sessionOf, type UploadSession } from './blob-upload.ts';
import { readCapped } from '../streams.ts';
import { RegistryError } from './errors.ts';
import { isTransientError, retryDelayMs, waitBeforeRetry } from './retry.ts';
import { header } from './headers.ts';
import type { BlobTarget } from './ranged-fetch.ts';
import type { RegistryResponse, Transport } from './transport.ts';

const MANIFEST_ACCEPT = manifestMediaTypes.join(', ');

export class RegistryRepository implements Repository {
  readonly location: string;
  readonly repository: string;
  private readonly transport: Transport;
  private readonly pull: string[];

  constructor(transport: Transport, reference: Pick<RegistryReference, 'registry' | 'repository'>) {
    this.transport = transport;
    this.repository = reference.repository;
    this.location = `${reference.registry}/${reference.repository}`;
    this.pull = [pullScope(reference.repository)];
  }

  /** HEAD first; GET when the HEAD answer lacks what a descriptor needs (or failed, for the error's body). */
  async resolve(selector: string): Promise<Descriptor> {
    const pinned = isDigest(selector) ? selector : undefined;
    const head = await this.manifestRequest('HEAD', selector, MANIFEST_ACCEPT, [200, 404]);
    await head.body.dump();
    if (head.statusCode === 200) {
      const digest = header(head, 'docker-content-digest');
      const mediaType = contentType(head);
      const size = Number(header(head, 'content-length'));
      if (digest !== undefined && isDigest(digest) && mediaType !== undefined && Number.isSafeInteger(size)) {
        if (pinned !== undefined && digest !== pinned) throw this.wrongDigest(selector, digest);
        return { mediaType, digest, size };
      }
    }
    return (await this.fetchReference(selector)).descriptor;
  }

  /** One GET: the descriptor and the bytes of the manifest a tag or digest names, checked as resolve checks them. */
  async fetchReference(selector: string): Promise<FetchedManifest> {
    const { response: get, bytes } = await this.readManifest(
      this.manifestName(selector),
      () => this.manifestRequest('GET', selector, MANIFEST_ACCEPT, [200]),
      MAX_MANIFEST_BYTES,
      () => tooBig(this.manifestName(selector)),
    );
    const digest = sha256(bytes);
    const announced = header(get, 'docker-content-digest');
    if (isDigest(selector) && digest !== selector) throw this.wrongDigest(selector, digest);
    if (announced !== undefined && announced !== digest) throw this.wrongDigest(selector, digest, announced);
    const mediaType = contentType(get) ?? mediaTypeField(bytes);
    if (mediaType === undefined)
      throw new RegistryError(`${this.manifestName(selector)}: neither Content-Type nor mediaType says what it is`, 200);
    return { descriptor: { mediaType, digest, size: bytes.byteLength }, bytes };
  }

  async fetchManifest(descriptor: Descriptor): Promise<Uint8Array> {
    const what = this.manifestName(descriptor.digest);
    if (descriptor.size > MAX_MANIFEST_BYTES) throw tooBig(what, descriptor.size);
    const accept = [descriptor.mediaType, ...manifestMediaTypes.filter((t) => t !== descriptor.mediaType)].join(', ');
    const { bytes } = await this.readManifest(
      what,
      async () => {
        const response = await this.manifestRequest('GET', descriptor.digest, accept, [200]);
        checkLength(what, response, descriptor);
        return response;
      },
      descriptor.size,
      () => new DigestMismatchError(what, descriptor, { digest: 'unknown (too long)', size: descriptor.size + 1 }),
    );
    verifyBytes(what, bytes, descriptor);
    return bytes;
  }

  /**
   * Streams the blob through a digest check: the stream errors instead of ending when the content is wrong. A body
   * that breaks midway is resumed from the byte where it broke (blob-download.ts); failures name the blob, and
   * `options.context` (the tar it is for) when given.
   */
  fetchBlob(descriptor: Descriptor, options: FetchBlobOptions = {}): Promise<Readable> {
    return downloadBlob(this.transport, this.blobTarget(descriptor, options));
  }

  /** A part of a blob by a bounded Range request, or the whole blob when the registry sends no part (ranged-fetch.ts). */
  fetchBlobPart(descriptor: Descriptor, start: number, end: number, options: FetchBlobOptions = {}): Promise<BlobPart> {
    return downloadBlobPart(this.transport, this.blobTarget(descriptor, options), start, end);
  }

  preconnect(connections: number): void {
    this.transport.preconnect(connections);
  }

  async exists(descriptor: Descriptor): Promise<boolean> {
    if (!isManifest(descriptor.mediaType)) return this.blobExists(descriptor.digest);
    const response = await this.manifestRequest('HEAD', descriptor.digest, MANIFEST_ACCEPT, [200, 404]);
    await response.body.dump();
    return response.statusCode === 200;
  }

  async blobExists(digest: string): Promise<boolean> {
    const response = await this.transport.request({ method: 'HEAD', path: this.blobPath(digest), scopes: this.pull, expect: [200, 404] });
    await response.body.dump();
    return response.statusCode === 200;
  }

  /**
   * An upload (POST, then the bytes: blob-upload.ts). With `mountFrom`, asks the registry to mount the blob from that
   * repository first; a registry that declines starts an ordinary upload instead.
   */
  async pushBlob(descriptor: Descriptor, content: BlobContent, options: PushBlobOptions = {}): Promise<'mounted' | 'uploaded'> {
    const push = [pushScope(this.repository)];
    const what = `upload of ${this.location}@${descriptor.digest}`;
    const start = async (mount: string | undefined): Promise<UploadSession | 'mounted'> => {
      const query = mount === undefined ? '' : `?${new URLSearchParams({ mount: descriptor.digest, from: mount }).toString()}`;
      const started = await this.transport.request({
        method: 'POST',
        path: `/v2/${this.repository}/blobs/uploads/${query}`,
        scopes: mount === undefined ? push : [...push, pullScope(mount)],
        expect: [201, 202],
        headers: { 'content-length': '0' },
      });
      await started.body.dump();
      return started.statusCode === 201 ? 'mounted' : sessionOf(started, this.transport, what);
    };
    const session = await start(options.mountFrom);
    if (session === 'mounted') return 'mounted';
    const restart = async () => (await start(undefined)) as UploadSession;
    await sendBlob({ transport: this.transport, descriptor, what, scopes: push, restart }, session, content);
    return 'uploaded';
  }

  /** Stores a manifest under a tag or its digest; returns its descriptor. */
  async pushManifest(reference: string, mediaType: string, bytes: Uint8Array): Promise<Descriptor> {
    const digest = sha256(bytes);
    const response = await this.transport.request({
      method: 'PUT',
      path: `/v2/${this.repository}/manifests/${reference}`,
      scopes: [pushScope(this.repository)],
      expect: [201],
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    await response.body.dump();
    const stored = header(response, 'docker-content-digest');
    if (stored !== undefined && stored !== digest) {
      throw new RegistryError(`${this.manifestName(reference)}: registry stored ${stored}, we sent ${digest}`, 201);
    }
    return { mediaType, digest, size: bytes.byteLength };
  }

  /** A manifest GET read whole; one whose body breaks (small as it is) is asked for again, as the retry policy allows. */
  private async readManifest(
    what: string,
    get: () => Promise<RegistryResponse>,
    limit: number,
    tooLong: () => Error,
  ): Promise<{ response: RegistryResponse; bytes: Buffer }> {
    const policy = this.transport.retry;
    for (let attempt = 1; ; attempt++) {
      const response = await get();
      try {
        return { response, bytes: await readCapped(response.body, limit, tooLong) };
      } catch (error) {
        if (!isTransientError(error)) throw error;
        const reason = this.transport.describe(error);
        if (attempt >= policy.attempts) {
          throw new Error(`${what}: the body broke: ${reason}${attempt > 1 ? ` (after ${attempt} attempts)` : ''}`, { cause: error });
        }
        await waitBeforeRetry(policy, { what, attempt, delayMs: retryDelayMs(policy, attempt, undefined), reason });
      }
    }
  }

  private manifestRequest(method: 'GET' | 'HEAD', selector: string, accept: string, expect: number[]): Promise<RegistryResponse> {
    return this.transport.request({
      method,
      path: `/v2/${this.repository}/manifests/${selector}`,
      scopes: this.pull,
      expect,
      headers: { accept },
    });
  }

  private blobPath(digest: string): string {
    return `/v2/${this.repository}/blobs/${digest}`;
  }

  private blobTarget(descriptor: Descriptor, options: FetchBlobOptions): BlobTarget {
    const what = `blob ${this.location}@${descriptor.digest}${options.context === undefined ? '' : ` for ${options.context}`}`;
    return { descriptor, what, path: this.blobPath(descriptor.digest), scopes: this.pull, context: options.context };
  }

  private wrongDigest(selector: string, digest: string, announced?: string): RegistryError {
    const claim = announced === undefined ? `content is ${digest}` : `registry says ${announced}, content is ${digest}`;
    return new RegistryError(`${this.manifestName(selector)}: ${claim}`, 200);
  }

  /** `manifest host/repo:tag` or `manifest host/repo@sha256:…` */
  private manifestName(selector: string): string {
    return `manifest ${this.location}${isDigest(selector) ? '@' : ':'}${selector}`;
  }
}

function contentType(response: RegistryResponse): string | undefined {
  const value = header(response, 'content-type')?.split(';')[0]?.trim();
  return value === undefined || value === '' || value === 'application/octet-stream' || value === 'text/plain' ? undefined : value;
}

function mediaTypeField(bytes: Uint8Array): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown };
    return typeof parsed.mediaType === 'string' && parsed.mediaType !== '' ? parsed.mediaType : undefined;
  } catch {
    return undefined;
  }
}

function tooBig(what: string, size?: number): RegistryError {
  const is = size === undefined ? 'is' : `is ${size} bytes,`;
  return new RegistryError(`${what} ${is} over the ${MAX_MANIFEST_BYTES}-byte limit for manifests`, 200);
}
