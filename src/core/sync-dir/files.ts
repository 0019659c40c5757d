import { access, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crashPoint } from '../crash-point.ts';
import { InputError } from '../input-error.ts';

/**
 * Replace a file so that readers see the old content or the new, never a mix: temp file, fsync, rename. A temp file
 * a crash leaves is removed by the next run that holds the sync directory's lock (sync-dir/leftovers.ts).
 */
export async function replaceFile(path: string, content: string | Uint8Array): Promise<void> {
  const temp = tempPath(path);
  try {
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    crashPoint('temp-written');
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dirname(path));
}

/**
 * `FILE.tmp-PID`; `NAME.csv.tmp-PID.csv` for a `.csv`, which stays one so that ace-dt's batch-deserialize (which takes
 * every file but a `.csv` for a tar) skips a temp file a crash left in a sync directory.
 */
export function tempPath(path: string): string {
  return `${path}.tmp-${process.pid}${path.endsWith('.csv') ? '.csv' : ''}`;
}

/** The file a temp file replaces and the pid that wrote it; undefined for a name that is no temp file. */
export function parseTempName(fileName: string): { base: string; pid: number } | undefined {
  const match = /^(.+)\.tmp-(\d+)(\.csv)?$/.exec(fileName);
  return match ? { base: match[1] as string, pid: Number(match[2]) } : undefined;
}

/** A rename is durable only once its directory is. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A file's text; failing to read it is the user's to fix, so the message names the file and what it is. */
export async function readRequired(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new InputError(`${path}: cannot read the ${what}: ${(error as Error).message}`);
  }
}

/** A file's text, or undefined when it does not exist; other failures name the file and what it is. */
export async function readIfExists(path: string, what: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InputError(`${path}: cannot read the ${what}: ${(error as Error).message}`);
  }
}

export async function pathExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
