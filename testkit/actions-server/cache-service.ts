/**
 * CacheService v2 (github.actions.results.api.v1.CacheService) as GitHub runs it: entries are scoped by repository
 * and version, immutable (a second CreateCacheEntry for a key and version fails with 409 already_exists, which
 * @actions/cache logs and shrugs off), and visible only once finalized. A lookup tries the key, then each restore
 * key in order: an exact match first, else the newest entry whose key starts with it.
 */
import type { BlobStore } from './blob-store.ts';
import type { Faults } from './faults.ts';
import type { Run } from './runs.ts';
import { codeForStatus, int64Field, stringField, stringListField, TwirpError, type Message } from './twirp.ts';

export interface CacheEntryInfo {
  id: number;
  repository: string;
  key: string;
  version: string;
  /** Archive bytes; undefined until finalized. */
  size: number | undefined;
  finalized: boolean;
  /** When it was reserved (CreateCacheEntry). */
  createdAt: Date;
  /** When it was finalized, so became visible; lookups prefer the most recent. */
  finalizedAt: Date | undefined;
}

interface Entry extends CacheEntryInfo {
  blobPath: string;
  /** Orders finalized entries when their times are equal. */
  sequence: number;
}

export class CacheService {
  readonly #blobs: BlobStore;
  readonly #faults: Faults;
  #entries: Entry[] = [];
  #ids = 0;
  #sequence = 0;

  constructor(blobs: BlobStore, faults: Faults) {
    this.#blobs = blobs;
    this.#faults = faults;
  }

  entries(): CacheEntryInfo[] {
    return this.#entries.map(({ blobPath: _path, sequence: _sequence, ...info }) => ({ ...info }));
  }

  keyOfBlob(path: string): string | undefined {
    return this.#entries.find((e) => e.blobPath === path)?.key;
  }

  /** Removes entries (finalized or not) whose key starts with `prefix`, as GitHub evicts; how many went. */
  async evict(prefix = ''): Promise<number> {
    const gone = this.#entries.filter((e) => e.key.startsWith(prefix));
    this.#entries = this.#entries.filter((e) => !e.key.startsWith(prefix));
    await Promise.all(gone.map((e) => this.#blobs.delete(e.blobPath)));
    return gone.length;
  }

  async call(method: string, request: Message, run: Run): Promise<Message> {
    switch (method) {
      case 'CreateCacheEntry':
        return this.#create(request, run);
      case 'FinalizeCacheEntryUpload':
        return this.#finalize(request, run);
      case 'GetCacheEntryDownloadURL':
        return this.#lookup(request, run);
      default:
        throw new TwirpError('not_found', `no method CacheService/${method}`);
    }
  }

  #create(request: Message, run: Run): Message {
    const { key, version } = keyAndVersion(request);
    if (this.#find(run.repository, key, version) !== undefined) {
      throw new TwirpError('already_exists', 'cache entry with the same key, version, and scope already exists');
    }
    const id = ++this.#ids;
    const blobPath = `/blob/caches/${id}`;
    this.#entries.push({
      id,
      repository: run.repository,
      key,
      version,
      size: undefined,
      finalized: false,
      createdAt: new Date(),
      finalizedAt: undefined,
      blobPath,
      sequence: 0,
    });
    return { ok: true, signed_upload_url: this.#blobs.signedUrl(blobPath, 'cw') };
  }

  #finalize(request: Message, run: Run): Message {
    const { key, version } = keyAndVersion(request);
    const size = int64Field(request, 'size_bytes') ?? 0;
    const entry = this.#find(run.repository, key, version);
    if (entry === undefined || entry.finalized) throw new TwirpError('not_found', `no cache entry reserved for key ${key}`);
    const status = this.#faults.take({ kind: 'cache', key }, 'finalize');
    if (status !== undefined) throw new TwirpError(codeForStatus(status), 'finalize refused by an injected fault');
    const uploaded = this.#blobs.size(entry.blobPath);
    if (uploaded === undefined) throw new TwirpError('failed_precondition', `nothing was uploaded for cache key ${key}`);
    if (uploaded !== size)
      throw new TwirpError('invalid_argument', `size_bytes ${size} but ${uploaded} bytes were uploaded for cache key ${key}`);
    Object.assign(entry, { finalized: true, size, finalizedAt: new Date(), sequence: ++this.#sequence });
    return { ok: true, entry_id: String(entry.id) };
  }

  #lookup(request: Message, run: Run): Message {
    const { key, version } = keyAndVersion(request);
    const visible = this.#entries
      .filter((e) => e.finalized && e.repository === run.repository && e.version === version)
      .sort((a, b) => b.sequence - a.sequence);
    for (const wanted of [key, ...stringListField(request, 'restore_keys')]) {
      const hit = visible.find((e) => e.key === wanted) ?? visible.find((e) => e.key.startsWith(wanted));
      if (hit !== undefined) return { ok: true, signed_download_url: this.#blobs.signedUrl(hit.blobPath, 'r'), matched_key: hit.key };
    }
    return { ok: false };
  }

  #find(repository: string, key: string, version: string): Entry | undefined {
    return this.#entries.find((e) => e.repository === repository && e.key === key && e.version === version);
  }
}

function keyAndVersion(request: Message): { key: string; version: string } {
  const key = stringField(request, 'key');
  const version = stringField(request, 'version');
  if (key === '') throw new TwirpError('invalid_argument', 'key is required');
  if (version === '') throw new TwirpError('invalid_argument', 'version is required');
  return { key, version };
}
