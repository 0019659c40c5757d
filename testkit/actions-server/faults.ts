/** Upload failures a test asks for: storage PUTs or finalize calls refused for an artifact or cache entry. */

export interface UploadFault {
  /** Only the artifact of this name (any run). */
  artifactName?: string;
  /** Only cache entries whose key starts with this. With neither filter, every upload fails. */
  cacheKeyPrefix?: string;
  /** 'blob' (default): the blob storage PUTs; 'finalize': FinalizeArtifact / FinalizeCacheEntryUpload. */
  at?: 'blob' | 'finalize';
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
}

export type UploadTarget = { kind: 'artifact'; name: string } | { kind: 'cache'; key: string };

interface ActiveFault {
  artifactName: string | undefined;
  cacheKeyPrefix: string | undefined;
  at: 'blob' | 'finalize';
  afterBytes: number;
  remaining: number;
  status: number;
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
    });
  }

  clear(): void {
    this.#active = [];
  }

  /** The HTTP status this request must fail with, if a fault covers it (using up one of its times). */
  take(target: UploadTarget, at: 'blob' | 'finalize', receivedBefore = 0): number | undefined {
    const fault = this.#active.find((f) => f.remaining > 0 && f.at === at && covers(f, target) && receivedBefore >= f.afterBytes);
    if (fault === undefined) return undefined;
    fault.remaining--;
    return fault.status;
  }
}

function covers(fault: ActiveFault, target: UploadTarget): boolean {
  if (fault.artifactName === undefined && fault.cacheKeyPrefix === undefined) return true;
  return target.kind === 'artifact'
    ? fault.artifactName === target.name
    : fault.cacheKeyPrefix !== undefined && target.key.startsWith(fault.cacheKeyPrefix);
}
