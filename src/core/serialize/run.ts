import { aceDtNameWarnings, readBatchList, type BatchEntry } from './batch-list.ts';
import type { Compression } from '../archive/compression.ts';
import type { DedupScope } from '../sync-dir/dedup-scope.ts';
import { planBatch, type Plan, type PlanHooks } from './planner.ts';
import { serializePlan, type SerializeHooks, type WrittenTar } from './write-tars.ts';
import { pathExists } from '../sync-dir/files.ts';
import { highestPlannedNumber } from '../sync-dir/plan-files.ts';
import type { Storages } from '../oci/storage.ts';
import { checkDiskSpace, deletingRecordedTars, sizedTar } from './disk-space.ts';
import { withSyncDir, type SyncDirSession } from './sync-dir-session.ts';

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
  /** `--max-file-size`: a tar whose file would be larger is written as parts of this size; undefined: no limit. */
  maxFileSize?: number | undefined;
  /**
   * Numbers up to this one were used by tars the tracker does not record (the Action reads them from the artifact
   * store): new tars are numbered above it, so no file name ever repeats. Default 0. Numbers a shard plan in the sync
   * directory reserved are skipped as well.
   */
  highestUsedNumber?: number;
  /**
   * False: each tar and its sidecar are deleted once recorded (the Action, after the upload), so the disk holds one tar
   * at a time. Default true.
   */
  keepTars?: boolean;
}

export interface BatchResult {
  plan: Plan;
  written: WrittenTar[];
}

/**
 * ace-dt's `mirror batch-serialize BATCH-LIST SYNC-DIRECTORY`, without its bugs (README, "What we do differently from
 * ace-dt"). The whole run holds the sync directory's lock (sync-dir/lock.ts): a run that finds another one using the
 * directory fails (SyncDirBusyError) having touched nothing.
 */
export async function runBatch(
  settings: BatchSettings,
  storages: Storages,
  hooks: SerializeHooks & PlanHooks = {},
  /** The batch list when the caller has read it already (the Action reads it first, to fail fast). */
  entries?: BatchEntry[],
): Promise<BatchResult> {
  const batch = entries ?? (await readBatchList(settings.batchFile));
  const { dryRun } = settings;
  const command = dryRun ? 'serialize --dry-run' : 'serialize';
  return withSyncDir({ ...settings, command, readOnly: dryRun }, hooks, async (session) => {
    const plan = await planInSyncDir(settings, batch, session, storages, hooks);
    if (dryRun || plan.tars.length === 0) return { plan, written: [] };

    const keepTars = settings.keepTars ?? true;
    await checkDiskSpace({
      dir: settings.syncDir,
      tars: plan.tars.map(sizedTar),
      compression: settings.compression,
      oneAtATime: !keepTars,
    });
    session.writing();
    session.state.ledger.push(...plan.learned);
    const written = await serializePlan(
      plan.tars,
      session.state,
      { ...settings, trackerPath: session.trackerPath, ledgerPath: session.ledgerPath },
      storages,
      keepTars ? hooks : deletingRecordedTars(hooks),
    );
    return { plan, written };
  });
}

/**
 * The plan of a batch against the sync directory held: every artifact resolved, what each tar holds, numbered above
 * the tracker, `highestUsedNumber` and every shard plan's reservation. Says so when the tracker records nothing.
 */
export async function planInSyncDir(
  settings: BatchSettings,
  entries: BatchEntry[],
  session: SyncDirSession,
  storages: Storages,
  hooks: SerializeHooks & PlanHooks,
): Promise<Plan> {
  for (const warning of aceDtNameWarnings(entries)) hooks.warning?.(warning);
  if (!(await pathExists(session.trackerPath))) hooks.note?.(`no tracker in ${settings.syncDir}: a first run, everything is shipped`);
  else if (session.state.tracker.length === 0) {
    hooks.note?.(`the tracker ${session.trackerPath} records nothing: a first run, everything is shipped`);
  }
  return planBatch(
    {
      entries,
      ...session.state,
      compression: settings.compression,
      dedupScope: settings.dedupScope,
      concurrency: settings.concurrency,
      highestUsedNumber: Math.max(settings.highestUsedNumber ?? 0, await highestPlannedNumber(settings.syncDir)),
    },
    storages,
    hooks,
  );
}
