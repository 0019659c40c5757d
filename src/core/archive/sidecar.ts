import { basename } from 'node:path';
import { digestHex } from '../oci/digest.ts';
import { readIfExists, replaceFile } from '../sync-dir/files.ts';

/** What a tar's `NAME.sha256` (sha256sum's format, written by the serializer) says about the file. */
export type SidecarCheck =
  | { state: 'match' }
  /** ace-dt writes none: not a failure. */
  | { state: 'missing' }
  | { state: 'mismatch'; reason: string };

const LINE = /^([a-f0-9]{64}) [ *](.+)$/;

function sidecarPath(tarPath: string): string {
  return `${tarPath}.sha256`;
}

/** Writes the tar's `NAME.sha256` (atomically) and returns its path. */
export async function writeSidecar(tarPath: string, sha256: string): Promise<string> {
  const path = sidecarPath(tarPath);
  await replaceFile(path, `${digestHex(sha256)}  ${basename(tarPath)}\n`);
  return path;
}

/** Compares the sidecar with the file's digest as read, as `sha256sum -c` would. */
export async function checkSidecar(tarPath: string, sha256: string): Promise<SidecarCheck> {
  const path = sidecarPath(tarPath);
  const text = await readIfExists(path, 'checksum file');
  if (text === undefined) return { state: 'missing' };
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const match = lines.length === 1 ? LINE.exec(lines[0] as string) : null;
  if (!match) return { state: 'mismatch', reason: `${path} is not one sha256sum line` };
  const [, hex, name] = match;
  if (name !== basename(tarPath)) return { state: 'mismatch', reason: `${path} names ${JSON.stringify(name)}, not ${basename(tarPath)}` };
  if (hex !== digestHex(sha256))
    return { state: 'mismatch', reason: `${path} says sha256 ${hex}, the file hashes to ${digestHex(sha256)}` };
  return { state: 'match' };
}
