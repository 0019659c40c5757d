import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseTempName } from './files.ts';
import { isAlive, LOCK_FILENAME, TAKEOVER_FILENAME, type SyncDirLock } from './lock.ts';
import { SIDE_DIR } from './side-dir.ts';
import { isPartialName, parseSyncName } from './sync-name.ts';

export interface LeftoverKinds {
  /** `NNNNNN-NAME.tar….partial` and the temp files of sidecars: serialize's. */
  tars?: boolean;
  /** Files replaced atomically (tracker, ledger, successful-syncs.csv) whose temp file a dead run left. */
  files?: readonly string[];
}

/**
 * Removes what runs that died left half written: `.partial` tars and the temp files of atomic replaces
 * (docs/formats.md, "File names"), in the sync directory and its side directory (older runs wrote them at the top).
 * Only under the lock (hence the argument): then no live run is writing them. The lock's own temp files are removed
 * only when their process is gone (a live one may be trying to lock right now). Returns the paths removed, relative
 * to the sync directory.
 */
export async function removeLeftovers(lock: SyncDirLock, kinds: LeftoverKinds): Promise<string[]> {
  const files = new Set(kinds.files ?? []);
  const isLeftover = (name: string): boolean => {
    if (kinds.tars && isPartialName(name)) return true;
    const temp = parseTempName(name);
    if (temp === undefined || temp.pid === process.pid) return false;
    if (temp.base === LOCK_FILENAME || temp.base === TAKEOVER_FILENAME) return !isAlive(temp.pid);
    return (
      files.has(temp.base) || (kinds.tars === true && temp.base.endsWith('.sha256') && parseSyncName(temp.base.slice(0, -7)) !== undefined)
    );
  };
  const found = await Promise.all(
    ['', SIDE_DIR].map(async (sub) =>
      (await readdir(join(lock.dir, sub)).catch(() => [] as string[])).filter(isLeftover).map((name) => join(sub, name)),
    ),
  );
  const paths = found.flat();
  await Promise.all(paths.map((path) => rm(join(lock.dir, path), { recursive: true, force: true })));
  return paths.sort();
}
