import { constants } from 'node:fs';
import { access, mkdir, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { aceDtNameWarnings, readBatchList, type BatchEntry } from './batch-list.ts';
import type { Compression } from '../archive/compression.ts';
import { findLedger, ledgerPath, legacyLedgerPath, readLedger } from '../sync-dir/ledger.ts';
import type { DedupScope } from '../sync-dir/dedup-scope.ts';
import { planBatch, type Plan, type PlanHooks } from './planner.ts';
import { serializePlan, type SerializeHooks, type WrittenTar } from './write-tars.ts';
import { InputError } from '../input-error.ts';
import { pathExists } from '../sync-dir/files.ts';
import { removeLeftovers } from '../sync-dir/leftovers.ts';
import { lockSyncDir } from '../sync-dir/lock.ts';
import type { Storages } from '../oci/storage.ts';
import { readTracker } from '../sync-dir/tracker.ts';
import { sidecarTarName } from '../archive/sidecar.ts';
import { moveIntoSideDir, SIDE_DIR } from '../sync-dir/side-dir.ts';
import { parseSyncName } from '../sync-dir/sync-name.ts';

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
  entries ??= await readBatchList(settings.batchFile);
  const { syncDir, dryRun } = settings;
  const trackerPath = join(syncDir, settings.trackerFilename);
  const ledger = ledgerPath(trackerPath);
  // The directory is made first, to be locked; if the run writes nothing it goes again (a typo costs nothing).
  const created = dryRun ? undefined : await createSyncDir(syncDir);
  const lock = await lockSyncDir(syncDir, { command: dryRun ? 'serialize --dry-run' : 'serialize', note: hooks.note, readOnly: dryRun });
  let writing = false;
  try {
    const state = { tracker: await readTracker(trackerPath), ledger: await readLedger(await findLedger(trackerPath)) };
    for (const warning of aceDtNameWarnings(entries)) hooks.warning?.(warning);
    if (!(await pathExists(trackerPath))) hooks.note?.(`no tracker in ${syncDir}: a first run, everything is shipped`);
    else if (state.tracker.length === 0) hooks.note?.(`the tracker ${trackerPath} records nothing: a first run, everything is shipped`);
    if (lock && !dryRun) {
      const leftovers = await removeLeftovers(lock, { tars: true, files: [basename(trackerPath), basename(ledger)] });
      for (const name of leftovers) hooks.note?.(`removed ${name}, left half written by a run that stopped`);
      await moveOwnFilesAside(syncDir, trackerPath, hooks);
    }
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
      hooks,
    );
    if (dryRun || plan.tars.length === 0) return { plan, written: [] };

    writing = true;
    state.ledger.push(...plan.learned);
    const written = await serializePlan(plan.tars, state, { ...settings, trackerPath, ledgerPath: ledger }, storages, hooks);
    return { plan, written };
  } finally {
    await lock?.release();
    if (created !== undefined && !writing) await removeEmpty(syncDir, created);
  }
}

/**
 * A sync directory written before the side directory keeps the ledger and the sidecars at its top level, where
 * ace-dt's batch-deserialize takes them for tars: they move into the side directory, said in a note.
 */
async function moveOwnFilesAside(syncDir: string, trackerPath: string, hooks: SerializeHooks): Promise<void> {
  const ledgerName = basename(legacyLedgerPath(trackerPath));
  const ours = (name: string) => name === ledgerName || parseSyncName(sidecarTarName(name) ?? '') !== undefined;
  const { moved, kept } = await moveIntoSideDir(syncDir, ours);
  if (moved.length > 0) hooks.note?.(`moved ${moved.join(', ')} into ${join(syncDir, SIDE_DIR)} (where this version keeps them)`);
  for (const name of kept) {
    hooks.warning?.(
      `${join(syncDir, name)} is from an older version and ${join(SIDE_DIR, name)} is the one read: ` +
        'remove the older one (ace-dt takes it for a tar)',
    );
  }
}

/** Removes `dir` and its parents up to `created` (the first one mkdir made) while they are empty. */
async function removeEmpty(dir: string, created: string): Promise<void> {
  for (let at = resolve(dir); ; at = dirname(at)) {
    const removed = await rmdir(at).then(
      () => true,
      () => false,
    );
    if (!removed || at === resolve(created) || at === dirname(at)) return;
  }
}

/** The sync directory, made when missing; a failure says why in words (read-only media, no permission). */
async function createSyncDir(syncDir: string): Promise<string | undefined> {
  try {
    return await mkdir(syncDir, { recursive: true });
  } catch (error) {
    // A recursive mkdir on read-only media says ENOENT: the nearest directory that exists tells the truth.
    const code =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? await writeAccessOfNearest(syncDir) : (error as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'the file system is read-only' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new InputError(`${syncDir}: cannot create the sync directory: ${why}`);
  }
}

async function writeAccessOfNearest(path: string): Promise<string | undefined> {
  for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
    try {
      await access(dir, constants.W_OK);
      return undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || dir === dirname(dir)) return code;
    }
  }
}
