import { lstat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { digestHex } from '../oci/digest.ts';
import { readIfExists, replaceFile } from '../sync-dir/files.ts';
import { makeSideDir, sidePath } from '../sync-dir/side-dir.ts';

/** What a tar's sidecar (sha256sum's format, written by the serializer) says about the file. */
export type SidecarCheck =
  | { state: 'match' }
  /** ace-dt writes none: not a failure. */
  | { state: 'missing' }
  | { state: 'mismatch'; reason: string };

const LINE = /^([a-f0-9]{64}) [ *](.+)$/;
const SUFFIX = '.sha256';

/** Where the serializer writes a tar's sidecar: `DIR/batch-serialize/NAME.sha256` for `DIR/NAME`. */
export function sidecarPath(tarPath: string): string {
  return sidePath(dirname(tarPath), basename(tarPath) + SUFFIX);
}

/** Where sync directories written before the side directory keep it: `DIR/NAME.sha256`, beside the tar. */
export function legacySidecarPath(tarPath: string): string {
  return tarPath + SUFFIX;
}

/** `000001-tools.tar.sha256` → `000001-tools.tar`; undefined for a name that is no sidecar's. */
export function sidecarTarName(fileName: string): string | undefined {
  return fileName.endsWith(SUFFIX) ? fileName.slice(0, -SUFFIX.length) : undefined;
}

/**
 * The tar's sidecar as found: in the side directory, else beside the tar (older sync directories); any kind of
 * directory entry counts (the caller decides whether to read it). Undefined when there is none.
 */
export async function locateSidecar(tarPath: string): Promise<string | undefined> {
  for (const path of [sidecarPath(tarPath), legacySidecarPath(tarPath)]) {
    const found = await lstat(path).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return false;
        throw error;
      },
    );
    if (found) return path;
  }
  return undefined;
}

/**
 * Writes the tar's sidecar (atomically) in the side directory and returns its path. It names the tar by its base
 * name, so `sha256sum -c batch-serialize/NAME.sha256` checks the tar from the sync directory.
 */
export async function writeSidecar(tarPath: string, sha256: string): Promise<string> {
  const path = sidecarPath(tarPath);
  await makeSideDir(dirname(tarPath));
  await replaceFile(path, `${digestHex(sha256)}  ${basename(tarPath)}\n`);
  return path;
}

/** Compares the sidecar (wherever it is) with the file's digest as read, as `sha256sum -c` would. */
export async function checkSidecar(tarPath: string, sha256: string): Promise<SidecarCheck> {
  const path = await locateSidecar(tarPath);
  const text = path === undefined ? undefined : await readIfExists(path, 'checksum file');
  if (path === undefined || text === undefined) return { state: 'missing' };
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const match = lines.length === 1 ? LINE.exec(lines[0] as string) : null;
  if (!match) return { state: 'mismatch', reason: `${path} is not one sha256sum line` };
  const [, hex, name] = match;
  if (name !== basename(tarPath)) return { state: 'mismatch', reason: `${path} names ${JSON.stringify(name)}, not ${basename(tarPath)}` };
  if (hex !== digestHex(sha256))
    return { state: 'mismatch', reason: `${path} says sha256 ${hex}, the file hashes to ${digestHex(sha256)}` };
  return { state: 'match' };
}
