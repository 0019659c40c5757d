import { constants } from 'node:fs';
import { access, mkdir, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { sidecarTarName } from '../archive/sidecar.ts';
import { InputError } from '../input-error.ts';
import { findLedger, ledgerPath, legacyLedgerPath, readLedger } from '../sync-dir/ledger.ts';
import { removeLeftovers } from '../sync-dir/leftovers.ts';
import { lockSyncDir } from '../sync-dir/lock.ts';
import { moveIntoSideDir, SIDE_DIR } from '../sync-dir/side-dir.ts';
import { parseSyncName } from '../sync-dir/sync-name.ts';
import { readTracker } from '../sync-dir/tracker.ts';
import type { SerializeHooks, SyncState } from './write-tars.ts';

export interface SyncDirOptions {
  syncDir: string;
  trackerFilename: string;
  /** What the lock says holds the directory: `serialize`, `plan`, `record`, … */
  command: string;
  /** Reads only (a dry run): the directory is neither made nor cleaned, and read without the lock where it cannot be written. */
  readOnly: boolean;
}

/** A sync directory held for one run: its lock taken, the leftovers of dead runs gone, the tracker and ledger read. */
export interface SyncDirSession {
  syncDir: string;
  trackerPath: string;
  ledgerPath: string;
  state: SyncState;
  /** Says the run writes: a directory made for it stays (one that nothing was written into goes again). */
  writing(): void;
}

/**
 * Runs `body` holding the sync directory (sync-dir/lock.ts): a run that finds another one using it fails
 * (SyncDirBusyError) having touched nothing. Unless read-only the directory is made when missing, and removed again
 * if the run wrote nothing (a typo costs nothing); once the tracker and ledger are read, the leftovers of dead runs
 * are removed and the files of an older layout moved into the side directory, under the lock.
 */
export async function withSyncDir<T>(
  options: SyncDirOptions,
  hooks: SerializeHooks,
  body: (session: SyncDirSession) => Promise<T>,
): Promise<T> {
  const { syncDir, readOnly } = options;
  const trackerPath = join(syncDir, options.trackerFilename);
  const ledger = ledgerPath(trackerPath);
  const created = readOnly ? undefined : await createSyncDir(syncDir);
  const lock = await lockSyncDir(syncDir, { command: options.command, note: hooks.note, readOnly });
  let writing = false;
  try {
    // Read first: a damaged tracker or ledger stops the run before anything is removed or written.
    const state = { tracker: await readTracker(trackerPath), ledger: await readLedger(await findLedger(trackerPath)) };
    if (lock && !readOnly) {
      const leftovers = await removeLeftovers(lock, { tars: true, files: [basename(trackerPath), basename(ledger)] });
      for (const name of leftovers) hooks.note?.(`removed ${name}, left half written by a run that stopped`);
      await moveOwnFilesAside(syncDir, trackerPath, hooks);
    }
    return await body({ syncDir, trackerPath, ledgerPath: ledger, state, writing: () => void (writing = true) });
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
