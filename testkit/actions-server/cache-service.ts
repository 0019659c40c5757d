/**
 * CacheService v2 (github.actions.results.api.v1.CacheService) as GitHub runs it. Entries belong to a repository and
 * a scope (the ref of the run that saved them), are immutable (a second CreateCacheEntry for a key and version in a
 * scope fails with 409 already_exists, which @actions/cache logs as info and shrugs off), and are visible only once
 * finalized. The runtime token's `ac` claim decides what a run sees: CreateCacheEntry writes into the first scope
 * with write permission (none: a 200 answer `{ok: false, message: "cache write denied: …"}`, which @actions/cache 6
 * turns into a CacheWriteDeniedError and a warning); a lookup searches the readable scopes in claim order and the
 * first scope with a match wins (none readable: permission_denied "cache read denied: …", a warning and a miss).
 * Within a scope it tries the key, then each restore key in order: an exact match first, else the newest entry whose
 * key starts with it — GitHub's "Cache key matching", retried on the default branch when the own scope has no hit.
 */
import type { BlobStore } from './blob-store.ts';
import { twirpRefusal, type Faults } from './faults.ts';
import { CacheRead, CacheWrite, type Run } from './runs.ts';
import { int64Field, stringField, stringListField, TwirpError, type Message } from './twirp.ts';

export interface CacheEntryInfo {
  id: number;
  repository: string;
  /** The ref the entry was saved under (`refs/heads/main`, `refs/pull/7/merge`…): who may restore it. */
  scope: string;
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

/** The prefixes @actions/cache 6 looks for (CACHE_WRITE_DENIED_PREFIX, CACHE_READ_DENIED_PREFIX). */
const writeDenied = 'cache write denied:';
const readDenied = 'cache read denied:';

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
    const refusal = this.#faults.take({ kind: 'cache', key }, 'reserve');
    if (refusal !== undefined) throw twirpRefusal(refusal, 'reservation');
    const scope = writableScope(run);
    if (scope === undefined) {
      return { ok: false, message: `${writeDenied} the runtime token of this run grants no cache scope write permission` };
    }
    if (this.#find(run.repository, scope, key, version) !== undefined) {
      throw new TwirpError('already_exists', 'cache entry with the same key, version, and scope already exists');
    }
    const id = ++this.#ids;
    const blobPath = `/blob/caches/${id}`;
    this.#entries.push({
      id,
      repository: run.repository,
      scope,
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
    const scope = writableScope(run);
    const entry = scope === undefined ? undefined : this.#find(run.repository, scope, key, version);
    if (entry === undefined || entry.finalized) throw new TwirpError('not_found', `no cache entry reserved for key ${key}`);
    const refusal = this.#faults.take({ kind: 'cache', key }, 'finalize');
    if (refusal !== undefined) throw twirpRefusal(refusal, 'finalize');
    const uploaded = this.#blobs.size(entry.blobPath);
    if (uploaded === undefined) throw new TwirpError('failed_precondition', `nothing was uploaded for cache key ${key}`);
    if (uploaded !== size)
      throw new TwirpError('invalid_argument', `size_bytes ${size} but ${uploaded} bytes were uploaded for cache key ${key}`);
    Object.assign(entry, { finalized: true, size, finalizedAt: new Date(), sequence: ++this.#sequence });
    return { ok: true, entry_id: String(entry.id) };
  }

  #lookup(request: Message, run: Run): Message {
    const { key, version } = keyAndVersion(request);
    const wanted = [key, ...stringListField(request, 'restore_keys')];
    const scopes = run.cacheScopes.filter((s) => (s.Permission & CacheRead) !== 0).map((s) => s.Scope);
    if (scopes.length === 0) {
      throw new TwirpError('permission_denied', `${readDenied} the runtime token of this run grants no cache scope read permission`);
    }
    for (const scope of scopes) {
      const visible = this.#entries
        .filter((e) => e.finalized && e.repository === run.repository && e.scope === scope && e.version === version)
        .sort((a, b) => b.sequence - a.sequence);
      for (const prefix of wanted) {
        const hit = visible.find((e) => e.key === prefix) ?? visible.find((e) => e.key.startsWith(prefix));
        if (hit !== undefined) return { ok: true, signed_download_url: this.#blobs.signedUrl(hit.blobPath, 'r'), matched_key: hit.key };
      }
    }
    return { ok: false };
  }

  #find(repository: string, scope: string, key: string, version: string): Entry | undefined {
    return this.#entries.find((e) => e.repository === repository && e.scope === scope && e.key === key && e.version === version);
  }
}

/** Where a run's saves go: the first scope of its `ac` claim it may write. */
function writableScope(run: Run): string | undefined {
  return run.cacheScopes.find((s) => (s.Permission & CacheWrite) !== 0)?.Scope;
}

function keyAndVersion(request: Message): { key: string; version: string } {
  const key = stringField(request, 'key');
  const version = stringField(request, 'version');
  if (key === '') throw new TwirpError('invalid_argument', 'key is required');
  if (version === '') throw new TwirpError('invalid_argument', 'version is required');
  return { key, version };
}
