import { tarSuffix, type Compression } from '../archive/compression.ts';

/**
 * The file-name grammar of a sync directory (docs/formats.md, "File names"): `NNNNNN-NAME.tar[.gz|.zst]`, the
 * number zero-padded to six digits or more, and `SYNC-NAME.partial` while a tar is being written.
 */
const SYNC_NAME = /^(\d{6,})-(.+?)\.tar(\.gz|\.zst)?$/;
const PARTIAL_SUFFIX = '.partial';

export interface ParsedSyncName {
  number: number;
  name: string;
}

export function formatNumber(number: number): string {
  return String(number).padStart(6, '0');
}

export function syncName(number: number, name: string, compression: Compression): string {
  return `${formatNumber(number)}-${name}${tarSuffix(compression)}`;
}

export function parseSyncName(value: string): ParsedSyncName | undefined {
  const match = SYNC_NAME.exec(value);
  return match ? { number: Number(match[1]), name: match[2] as string } : undefined;
}

export function partialName(syncName: string): string {
  return syncName + PARTIAL_SUFFIX;
}

/** `000001-tools.tar.partial` is the partial of a sync name; anything else is not one. */
export function isPartialName(fileName: string): boolean {
  return fileName.endsWith(PARTIAL_SUFFIX) && parseSyncName(fileName.slice(0, -PARTIAL_SUFFIX.length)) !== undefined;
}
