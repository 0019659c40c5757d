/**
 * Upload failures a test asks for: the reservation (CreateCacheEntry / CreateArtifact), the storage PUTs or the
 * finalize call refused for an artifact or cache entry.
 */
import { codeForStatus, TwirpError } from './twirp.ts';

export interface UploadFault {
  /** Only the artifact of this name (any run). */
  artifactName?: string;
  /** Only cache entries whose key starts with this. With neither filter, every upload fails. */
  cacheKeyPrefix?: string;
  /**
   * 'blob' (default): the blob storage PUTs; 'finalize': FinalizeArtifact / FinalizeCacheEntryUpload; 'reserve':
   * CreateCacheEntry / CreateArtifact, answered with the twirp code of `status` (429 is resource_exhausted, how
   * GitHub's rate limit answers).
   */
  at?: FaultStage;
  /**
   * Blob PUTs pass until this many bytes of the same blob have arrived; later ones fail (default 0: the first
   * fails). Counted as requests arrive, so with 8 MiB artifact blocks `afterBytes: 8 << 20` lets exactly one through.
   */
  afterBytes?: number;
  /** How many requests fail before the fault is used up (default: all of them). */
  times?: number;
  /**
   * HTTP status of the failure. Default 403, which neither the Azure SDK nor the twirp clients retry, so the
   * upload fails at once; 500/503 are retried (Azure SDK: 4 tries, 4 s apart and doubling; twirp: 5 tries from 3 s).
   */
  status?: number;
  /** Retry-After (seconds) sent with a refused reservation; default 60 with status 429, else none. */
  retryAfterSeconds?: number;
}

export type FaultStage = 'reserve' | 'blob' | 'finalize';

/** How a request covered by a fault is refused. */
export interface Refusal {
  status: number;
  retryAfterSeconds: number | undefined;
}

export type UploadTarget = { kind: 'artifact'; name: string } | { kind: 'cache'; key: string };

interface ActiveFault {
  artifactName: string | undefined;
  cacheKeyPrefix: string | undefined;
  at: FaultStage;
  afterBytes: number;
  remaining: number;
  status: number;
  retryAfterSeconds: number | undefined;
}

export class Faults {
  #active: ActiveFault[] = [];

  add(fault: UploadFault): void {
    this.#active.push({
      artifactName: fault.artifactName,
      cacheKeyPrefix: fault.cacheKeyPrefix,
      at: fault.at ?? 'blob',
      afterBytes: fault.afterBytes ?? 0,
      remaining: fault.times ?? Infinity,
      status: fault.status ?? 403,
      retryAfterSeconds: fault.retryAfterSeconds ?? (fault.status === 429 ? 60 : undefined),
    });
  }

  clear(): void {
    this.#active = [];
  }

  /** How this request must fail, if a fault covers it (using up one of its times). */
  take(target: UploadTarget, at: FaultStage, receivedBefore = 0): Refusal | undefined {
    const fault = this.#active.find((f) => f.remaining > 0 && f.at === at && covers(f, target) && receivedBefore >= f.afterBytes);
    if (fault === undefined) return undefined;
    fault.remaining--;
    return { status: fault.status, retryAfterSeconds: fault.retryAfterSeconds };
  }
}

function covers(fault: ActiveFault, target: UploadTarget): boolean {
  if (fault.artifactName === undefined && fault.cacheKeyPrefix === undefined) return true;
  return target.kind === 'artifact'
    ? fault.artifactName === target.name
    : fault.cacheKeyPrefix !== undefined && target.key.startsWith(fault.cacheKeyPrefix);
}

/** The twirp error a refused call answers with: the code of the status, and Retry-After when the fault sets one. */
export function twirpRefusal(refusal: Refusal, call: string): TwirpError {
  const message = refusal.status === 429 ? `${call} rate limited (injected fault)` : `${call} refused by an injected fault`;
  const headers: Record<string, string> =
    refusal.retryAfterSeconds === undefined ? {} : { 'retry-after': String(refusal.retryAfterSeconds) };
  return new TwirpError(codeForStatus(refusal.status), message, headers);
}
