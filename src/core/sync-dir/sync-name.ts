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

/** `000001-tools.tar.partial` and `000001-tools.tar.part-002.partial` are partials; anything else is not one. */
export function isPartialName(fileName: string): boolean {
  if (!fileName.endsWith(PARTIAL_SUFFIX)) return false;
  const written = fileName.slice(0, -PARTIAL_SUFFIX.length);
  return parseSyncName(written) !== undefined || parsePartName(written) !== undefined;
}

/**
 * A tar over `--max-file-size` is stored as numbered parts `SYNC-NAME.part-001`, `-002`, … (three digits, more from
 * 1000 on), every part but the last exactly that size: `cat SYNC-NAME.part-* > SYNC-NAME` joins them while the
 * numbers have equal width.
 */
const PART = /^(.+)\.part-(\d{3,})$/;

export interface ParsedPartName {
  /** The joined tar's name. */
  syncName: string;
  /** 1-based. */
  index: number;
}

export function partName(syncName: string, index: number): string {
  return `${syncName}.part-${String(index).padStart(3, '0')}`;
}

export function parsePartName(fileName: string): ParsedPartName | undefined {
  const match = PART.exec(fileName);
  if (match === null || parseSyncName(match[1] as string) === undefined) return undefined;
  const index = Number(match[2]);
  // One spelling per part: part-001, never part-01 or part-0001.
  return index >= 1 && partName(match[1] as string, index) === fileName ? { syncName: match[1] as string, index } : undefined;
}
