import { open, rm, stat } from 'node:fs/promises';
import { fileKind } from '../archive/tar-reader.ts';
import { dirname, join, resolve } from 'node:path';
import { InputError } from '../input-error.ts';
import { readSuccessfulSyncs, SUCCESSFUL_SYNCS_FILENAME, type SyncRecord } from '../sync-dir/successful-syncs.ts';

/**
 * The far side's record of loaded tars (docs/formats.md "successful-syncs.csv"): `DIR/successful-syncs.csv`, or a
 * file elsewhere when the sync directory is on read-only media.
 */
export interface RecordLocation {
  dir: string;
  /** Undefined: `DIR/successful-syncs.csv`. */
  recordPath?: string | undefined;
}

/** Where the record of loaded tars lives. */
export function recordPathOf(location: RecordLocation): string {
  return location.recordPath ?? join(location.dir, SUCCESSFUL_SYNCS_FILENAME);
}

/** Whether deserialize writes in the sync directory itself: only its record does, when it lives there. */
export function writesSyncDir(location: RecordLocation): boolean {
  return resolve(dirname(recordPathOf(location))) === resolve(location.dir);
}

/**
 * The record's rows. Kept elsewhere, the rows of DIR's own file (a far side that loaded there while it could
 * write) come first, those of the record after them; the record is rewritten with both.
 */
export async function readRecords(location: RecordLocation): Promise<SyncRecord[]> {
  const path = recordPathOf(location);
  const records = await readRecordFile(path);
  const inDir = join(location.dir, SUCCESSFUL_SYNCS_FILENAME);
  if (resolve(path) === resolve(inDir)) return records;
  const same = (a: SyncRecord, b: SyncRecord) => a.filename === b.filename && a.artifact === b.artifact;
  const carried = (await readRecordFile(inDir)).filter((old) => !records.some((record) => same(record, old)));
  return [...carried, ...records];
}

async function readRecordFile(path: string): Promise<SyncRecord[]> {
  await requireFileOrNothing(path, 'the record of loaded tars');
  return readSuccessfulSyncs(path);
}

/**
 * Throws when `path` is there but is not (a link to) a regular file: a FIFO or `/dev/zero` would be read forever,
 * a directory fail with EISDIR. Nothing there is fine: the caller's reader says what that means.
 */
export async function requireFileOrNothing(path: string, what: string): Promise<void> {
  const stats = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new InputError(`${path}: cannot read ${what}: ${error.message}`);
  });
  if (stats !== undefined && !stats.isFile()) throw new InputError(`${path}: ${what} is not a regular file but ${fileKind(stats)}`);
}

const READ_ONLY = new Set(['EROFS', 'EACCES', 'EPERM']);

/**
 * The record is written after each tar is pushed (a temp file beside it, renamed over it). That is tried first, a
 * probe file created and removed, so that a record that cannot be written stops the run before anything is pushed:
 * otherwise every rerun pushes the same tar again and fails at the same place.
 */
export async function checkRecordWritable(path: string): Promise<void> {
  const probe = `${path}.tmp-${process.pid}`;
  try {
    const handle = await open(probe, 'w');
    await handle.close();
    await rm(probe, { force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const dir = dirname(path);
    const why = READ_ONLY.has(code) ? `${dir} is read-only (${code})` : `cannot write in ${dir}: ${(error as Error).message}`;
    throw new InputError(
      `cannot record loaded tars in ${path}: ${why}; nothing was pushed. ` +
        'Keep the record elsewhere (--successful-syncs FILE) or load from a writable copy',
    );
  }
}
