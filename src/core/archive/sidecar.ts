import { lstat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { digestHex } from '../oci/digest.ts';
import { readIfExists, replaceFile } from '../sync-dir/files.ts';
import { makeSideDir, sidePath } from '../sync-dir/side-dir.ts';
import { parsePartName } from '../sync-dir/sync-name.ts';
import { fileKind } from './tar-source.ts';

/** What a tar's sidecar (sha256sum's format, written by the serializer) says about the file. */
export type SidecarCheck =
  | { state: 'match' }
  /** ace-dt writes none: not a failure. */
  | { state: 'missing' }
  | { state: 'mismatch'; reason: string }
  /** The sidecar lists the tar's parts and the file here is whole (joined with cat): the whole is unchecked. */
  | { state: 'joined'; parts: number };

/** One line: the file it names and that file's sha256 (`sha256:HEX`). */
export interface SidecarLine {
  name: string;
  sha256: string;
}

/** A sidecar holds one line per file: one for a tar, one per part for a tar in parts (up to a few thousand). */
const MAX_SIDECAR_BYTES = 1024 * 1024;

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
 * Writes the tar's sidecar (atomically) in the side directory and returns its path: one line per file, the tar's
 * sha256, or its parts in order, each named by its base name, so `sha256sum -c batch-serialize/NAME.sha256` checks
 * them from the sync directory.
 */
export async function writeSidecar(tarPath: string, sha256OrParts: string | readonly SidecarLine[]): Promise<string> {
  const files = typeof sha256OrParts === 'string' ? [{ name: basename(tarPath), sha256: sha256OrParts }] : sha256OrParts;
  const path = sidecarPath(tarPath);
  await makeSideDir(dirname(tarPath));
  await replaceFile(path, files.map((file) => `${digestHex(file.sha256)}  ${file.name}\n`).join(''));
  return path;
}

/**
 * The tar's sidecar (wherever it is) read: its path and lines in order, `missing`, or a `mismatch` saying why it is
 * unusable. Only a regular file is read (a FIFO would never end, a directory fail), and only a short one.
 */
export async function readSidecar(tarPath: string): Promise<{ path: string; lines: SidecarLine[] } | SidecarCheck> {
  try {
    const path = await locateSidecar(tarPath);
    if (path === undefined) return { state: 'missing' };
    const stats = await lstat(path);
    if (!stats.isFile()) return { state: 'mismatch', reason: `${path} is not a regular file but ${fileKind(stats)} (not read)` };
    if (stats.size > MAX_SIDECAR_BYTES) return { state: 'mismatch', reason: `${path} is ${stats.size} bytes, not a sidecar` };
    const text = await readIfExists(path, 'checksum file');
    if (text === undefined) return { state: 'missing' };
    const texts = text.split('\n').filter((line) => line.trim() !== '');
    const lines: SidecarLine[] = [];
    for (const [index, line] of texts.entries()) {
      const match = LINE.exec(line);
      if (match === null) {
        return {
          state: 'mismatch',
          reason: texts.length === 1 ? `${path} is not one sha256sum line` : `${path}:${index + 1} is not a sha256sum line`,
        };
      }
      lines.push({ name: match[2] as string, sha256: `sha256:${match[1] as string}` });
    }
    return lines.length === 0 ? { state: 'mismatch', reason: `${path} is not one sha256sum line` } : { path, lines };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    return { state: 'mismatch', reason: (error as Error).message };
  }
}

/**
 * Compares one file of the tar at `tarPath` (the tar itself, or one of its parts, by base name) with its sidecar line.
 */
export async function checkSidecarFor(tarPath: string, fileName: string, sha256: string): Promise<SidecarCheck> {
  if (fileName === basename(tarPath)) return checkSidecar(tarPath, sha256);
  const read = await readSidecar(tarPath);
  if ('state' in read) return read;
  const line = read.lines.find((candidate) => candidate.name === fileName);
  if (line === undefined) return { state: 'mismatch', reason: `${read.path} does not list ${fileName}` };
  if (line.sha256 !== sha256) {
    return { state: 'mismatch', reason: `${read.path} says sha256 ${digestHex(line.sha256)}, ${fileName} hashes to ${digestHex(sha256)}` };
  }
  return { state: 'match' };
}

/**
 * Compares the sidecar with the whole file's digest as read, as `sha256sum -c` would. A sidecar listing the tar's
 * parts is `joined`: the file is those parts joined (with cat), unchecked as a whole.
 */
export async function checkSidecar(tarPath: string, sha256: string): Promise<SidecarCheck> {
  const read = await readSidecar(tarPath);
  if ('state' in read) return read;
  const { path, lines } = read;
  const tarName = basename(tarPath);
  if (lines.every((line) => parsePartName(line.name)?.syncName === tarName)) return { state: 'joined', parts: lines.length };
  const [line] = lines;
  if (lines.length !== 1 || line === undefined) return { state: 'mismatch', reason: `${path} is not one sha256sum line` };
  if (line.name !== tarName) return { state: 'mismatch', reason: `${path} names ${JSON.stringify(line.name)}, not ${tarName}` };
  if (line.sha256 !== sha256) {
    return { state: 'mismatch', reason: `${path} says sha256 ${digestHex(line.sha256)}, the file hashes to ${digestHex(sha256)}` };
  }
  return { state: 'match' };
}
