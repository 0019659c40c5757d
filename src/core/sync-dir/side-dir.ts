import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pathExists, syncDirectory } from './files.ts';

/**
 * Our own files in a sync directory (checksum sidecars, the ledger, tars being written) live in this subdirectory,
 * so that the top level holds only tars and `.csv` files: ace-dt's batch-deserialize skips directories and `.csv`
 * files and takes everything else for a tar (docs/formats.md, "File names").
 */
export const SIDE_DIR = 'batch-serialize';

/** `SYNC-DIR/batch-serialize/FILE`. */
export function sidePath(syncDir: string, fileName: string): string {
  return join(syncDir, SIDE_DIR, fileName);
}

export async function makeSideDir(syncDir: string): Promise<void> {
  await mkdir(join(syncDir, SIDE_DIR), { recursive: true });
}

/**
 * Moves what a sync directory written before the side directory holds at its top level (`which` picks the names)
 * into the side directory. Only under the sync directory's lock. A name the side directory holds already is left
 * where it is (`kept`): the side directory's copy is the one read.
 */
export async function moveIntoSideDir(syncDir: string, which: (name: string) => boolean): Promise<{ moved: string[]; kept: string[] }> {
  const names = (await readdir(syncDir)).filter(which).sort();
  const moved: string[] = [];
  const kept: string[] = [];
  for (const name of names) {
    const to = sidePath(syncDir, name);
    if (await pathExists(to)) {
      kept.push(name);
      continue;
    }
    if (moved.length === 0) await makeSideDir(syncDir);
    await rename(join(syncDir, name), to);
    moved.push(name);
  }
  if (moved.length > 0) await Promise.all([syncDirectory(syncDir), syncDirectory(join(syncDir, SIDE_DIR))]);
  return { moved, kept };
}
