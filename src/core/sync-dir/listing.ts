import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../input-error.ts';
import { isPartialName, parseSyncName } from './sync-name.ts';

/** A numbered tar found in a sync directory. */
export interface SyncTar {
  syncName: string;
  number: number;
  name: string;
  path: string;
}

export interface SyncDirListing {
  /** In number order. */
  tars: SyncTar[];
  /** Numbers held by more than one tar: which one comes first is unknowable. */
  duplicates: Array<{ number: number; syncNames: string[] }>;
  /** `.partial` files: tars whose writing never finished. */
  partials: string[];
}

/** The tars of a sync directory (ours or ace-dt's), by file name; sidecars, trackers and other files are not tars. */
export async function listSyncDir(dir: string): Promise<SyncDirListing> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    throw new InputError(`${dir}: cannot read the sync directory: ${(error as Error).message}`);
  }
  const tars: SyncTar[] = [];
  for (const syncName of names) {
    const parsed = parseSyncName(syncName);
    if (parsed) tars.push({ syncName, ...parsed, path: join(dir, syncName) });
  }
  tars.sort((a, b) => a.number - b.number || (a.syncName < b.syncName ? -1 : 1));
  const byNumber = new Map<number, string[]>();
  for (const tar of tars) byNumber.set(tar.number, [...(byNumber.get(tar.number) ?? []), tar.syncName]);
  const duplicates = [...byNumber].filter(([, syncNames]) => syncNames.length > 1).map(([number, syncNames]) => ({ number, syncNames }));
  const partials = names.filter(isPartialName);
  return { tars, duplicates, partials: partials.sort() };
}

/** Numbers from 1 to `highest` that are not `present`. */
export function missingNumbers(highest: number, present: ReadonlySet<number>): number[] {
  const missing: number[] = [];
  for (let number = 1; number <= highest; number++) if (!present.has(number)) missing.push(number);
  return missing;
}
