import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive, LOCK_FILENAME, type SyncDirLock } from './lock.ts';
import { isPartialName, parseSyncName } from './sync-name.ts';

export interface LeftoverKinds {
  /** `NNNNNN-NAME.tar….partial` and the temp files of sidecars: serialize's. */
  tars?: boolean;
  /** Files replaced atomically (tracker, ledger, successful-syncs.csv) whose `FILE.tmp-PID` a dead run left. */
  files?: readonly string[];
}

const TEMP = /^(.+)\.tmp-(\d+)$/;

/**
 * Removes what runs that died left half written: `.partial` tars and `FILE.tmp-PID` temp files of atomic replaces
 * (docs/formats.md, "File names"). Only under the lock (hence the argument): then no live run is writing them. The
 * lock's own temp files are removed only when their process is gone (a live one may be trying to lock right now).
 * Returns the names removed.
 */
export async function removeLeftovers(lock: SyncDirLock, kinds: LeftoverKinds): Promise<string[]> {
  const files = new Set(kinds.files ?? []);
  const names = (await readdir(lock.dir).catch(() => [] as string[])).filter((name) => {
    if (kinds.tars && isPartialName(name)) return true;
    const temp = TEMP.exec(name);
    if (!temp) return false;
    const [, base = '', pid = ''] = temp;
    if (Number(pid) === process.pid) return false;
    if (base === LOCK_FILENAME) return !isAlive(Number(pid));
    return files.has(base) || (kinds.tars === true && base.endsWith('.sha256') && parseSyncName(base.slice(0, -7)) !== undefined);
  });
  await Promise.all(names.map((name) => rm(join(lock.dir, name), { recursive: true, force: true })));
  return names.sort();
}
