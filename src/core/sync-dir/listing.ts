import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../input-error.ts';
import { fileKind } from '../archive/tar-reader.ts';
import { SIDE_DIR } from './side-dir.ts';
import { isPartialName, parsePartName, parseSyncName, type ParsedSyncName } from './sync-name.ts';

/** A numbered tar found in a sync directory. */
export interface SyncTar {
  syncName: string;
  number: number;
  name: string;
  /** `DIR/SYNC-NAME`: the tar, or, when it came as parts alone, the name they join to (no such file). */
  path: string;
  /**
   * The paths of its parts `SYNC-NAME.part-NNN` (`--max-file-size`), by part number; empty for a tar in one file.
   * Both a file and parts: the scan refuses the tar (which is the tar is unknowable).
   */
  parts: string[];
}

/** A directory entry named like a tar that is not a regular file: a directory, a symbolic link, a FIFO, … */
export interface IrregularTar extends SyncTar {
  /** `a directory`, `a symbolic link`, `a FIFO`, `a socket`, `a character device`, `a block device`. */
  kind: string;
}

export interface SyncDirListing {
  /** Regular files, in number order: the only ones read. */
  tars: SyncTar[];
  /**
   * Named like tars but not regular files, in number order: never opened (a directory fails to read, a FIFO or a
   * link to a device never ends). A symbolic link is one of them, even to a regular file: copy the tar in.
   */
  irregular: IrregularTar[];
  /** Numbers held by more than one tar (or irregular entry): which one comes first is unknowable. */
  duplicates: Array<{ number: number; syncNames: string[] }>;
  /** `.partial` files (in the side directory, or at the top from older runs): tars whose writing never finished. */
  partials: string[];
}

/** The tars of a sync directory (ours or ace-dt's), by file name; sidecars, trackers and other files are not tars. */
export async function listSyncDir(dir: string): Promise<SyncDirListing> {
  let entries: Dirent[];
  try {
    // Dirents carry the type without following links (Node falls back to lstat where the file system gives none).
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new InputError(`${dir}: cannot read the sync directory: ${(error as Error).message}`);
  }
  const names = entries.map((entry) => entry.name);
  const found = new Map<string, { whole: Dirent | undefined; parts: Array<{ index: number; entry: Dirent }> }>();
  const named = (syncName: string) => found.get(syncName) ?? found.set(syncName, { whole: undefined, parts: [] }).get(syncName)!;
  for (const entry of entries) {
    const part = parsePartName(entry.name);
    if (part !== undefined) named(part.syncName).parts.push({ index: part.index, entry });
    else if (parseSyncName(entry.name) !== undefined) named(entry.name).whole = entry;
  }
  const tars: SyncTar[] = [];
  const irregular: IrregularTar[] = [];
  for (const [syncName, { whole, parts }] of found) {
    parts.sort((a, b) => a.index - b.index);
    const tar = {
      syncName,
      ...(parseSyncName(syncName) as ParsedSyncName),
      path: join(dir, syncName),
      parts: parts.map((p) => join(dir, p.entry.name)),
    };
    // One entry that is not a regular file (the tar, or any of its parts) makes the whole tar unreadable.
    const odd = [...(whole === undefined ? [] : [whole]), ...parts.map((p) => p.entry)].find((entry) => !entry.isFile());
    if (odd === undefined) tars.push(tar);
    else irregular.push({ ...tar, kind: fileKind(odd) + (odd === whole ? '' : ` (${odd.name})`) });
  }
  const byOrder = (a: SyncTar, b: SyncTar) => a.number - b.number || (a.syncName < b.syncName ? -1 : 1);
  tars.sort(byOrder);
  irregular.sort(byOrder);
  const byNumber = new Map<number, string[]>();
  for (const tar of [...tars, ...irregular].sort(byOrder)) byNumber.set(tar.number, [...(byNumber.get(tar.number) ?? []), tar.syncName]);
  const duplicates = [...byNumber].filter(([, syncNames]) => syncNames.length > 1).map(([number, syncNames]) => ({ number, syncNames }));
  const sideNames = await readdir(join(dir, SIDE_DIR)).catch(() => [] as string[]);
  const partials = [...names.filter(isPartialName), ...sideNames.filter(isPartialName).map((name) => join(SIDE_DIR, name))];
  return { tars, irregular, duplicates, partials: partials.sort() };
}

/** Numbers from 1 to `highest` that are not `present`. */
export function missingNumbers(highest: number, present: ReadonlySet<number>): number[] {
  const missing: number[] = [];
  for (let number = 1; number <= highest; number++) if (!present.has(number)) missing.push(number);
  return missing;
}
