import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readBatchList, type BatchEntry } from './batch-list.ts';
import type { Compression } from '../archive/compression.ts';
import { ledgerPath, readLedger } from '../sync-dir/ledger.ts';
import type { DedupScope } from '../sync-dir/dedup-scope.ts';
import { planBatch, type Plan } from './planner.ts';
import { removeLeftovers, serializePlan, type SerializeHooks, type WrittenTar } from './write-tars.ts';
import type { Storages } from '../oci/storage.ts';
import { readTracker } from '../sync-dir/tracker.ts';

/** Everything one batch run needs to know, validated once by the entry that drives it (CLI or Action). */
export interface BatchSettings {
  batchFile: string;
  syncDir: string;
  trackerFilename: string;
  compression: Compression;
  compressionLevel: number | undefined;
  manifestJson: boolean;
  dedupScope: DedupScope;
  /** Plan only: fetch manifests, no layer blobs, write nothing. */
  dryRun: boolean;
  concurrency: number;
  /**
   * Numbers up to this one were used by tars the tracker does not record (the Action reads them from the artifact
   * store): new tars are numbered above it, so no file name ever repeats. Default 0.
   */
  highestUsedNumber?: number;
}

export interface BatchResult {
  plan: Plan;
  written: WrittenTar[];
}

/** ace-dt's `mirror batch-serialize BATCH-LIST SYNC-DIRECTORY`, without its bugs (README, "What we do differently from ace-dt"). */
export async function runBatch(
  settings: BatchSettings,
  storages: Storages,
  hooks: SerializeHooks = {},
  /** The batch list when the caller has read it already (the Action reads it first, to fail fast). */
  entries?: BatchEntry[],
): Promise<BatchResult> {
  entries ??= await readBatchList(settings.batchFile);
  const trackerPath = join(settings.syncDir, settings.trackerFilename);
  const ledger = ledgerPath(trackerPath);
  const state = { tracker: await readTracker(trackerPath), ledger: await readLedger(ledger) };
  if (!settings.dryRun) await removeLeftovers(settings.syncDir);
  const plan = await planBatch(
    {
      entries,
      ...state,
      compression: settings.compression,
      dedupScope: settings.dedupScope,
      concurrency: settings.concurrency,
      highestUsedNumber: settings.highestUsedNumber ?? 0,
    },
    storages,
  );
  if (settings.dryRun || plan.tars.length === 0) return { plan, written: [] };

  await mkdir(settings.syncDir, { recursive: true });
  state.ledger.push(...plan.learned);
  const written = await serializePlan(plan.tars, state, { ...settings, trackerPath, ledgerPath: ledger }, storages, hooks);
  return { plan, written };
}
