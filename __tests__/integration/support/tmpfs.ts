/**
 * Directories that are read-only or full for real: a tmpfs mounted on them, which takes root (mount). Without root,
 * a read-only directory is one of mode 0555 (which root could write anyway); a full one cannot be made.
 */
import { execFile } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A tmpfs of `bytes` on `dir`, read-only when asked. */
export async function mountTmpfs(dir: string, bytes: number, readOnly = false): Promise<void> {
  await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes}${readOnly ? ',ro' : ''}`, 'tmpfs', dir]);
}

/** Undoes mountTmpfs; nothing for a directory that is no mount point. */
export async function unmount(dir: string): Promise<void> {
  await run('umount', [dir]).catch(() => undefined);
}

/** `dir` made read-only: a read-only tmpfs on it when this runs as root, else mode 0555. */
export async function makeReadOnly(dir: string): Promise<void> {
  if (process.getuid?.() === 0) await mountTmpfs(dir, 64 * 1024 * 1024, true);
  else await chmod(dir, 0o555);
}
