import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SIDE_DIR } from './side-dir.ts';
import { formatNumber } from './sync-name.ts';

/**
 * A sharded run's files in the side directory (docs/formats.md, "Shard plan"): `plan-FIRST-LAST.json`, the plan that
 * reserved the tar numbers FIRST to LAST, and `shard-FIRST-LAST.json`, the record of a shard that wrote its tars
 * FIRST to LAST. A plan's numbers are never used again, whether its shards ship or fail.
 */
export interface NumberRange {
  first: number;
  last: number;
}

const RANGE = /^(\d{6,})-(\d{6,})$/;

/** `000004-000009`: a plan's id, and the tail of its file and artifact names. */
export function formatRange(range: NumberRange): string {
  return `${formatNumber(range.first)}-${formatNumber(range.last)}`;
}

export function parseRange(text: string): NumberRange | undefined {
  const match = RANGE.exec(text);
  if (!match) return undefined;
  const range = { first: Number(match[1]), last: Number(match[2]) };
  return range.first >= 1 && range.first <= range.last ? range : undefined;
}

export function planFileName(range: NumberRange): string {
  return `plan-${formatRange(range)}.json`;
}

export function shardRecordFileName(range: NumberRange): string {
  return `shard-${formatRange(range)}.json`;
}

/** The range a `plan-FIRST-LAST.json` name reserves; undefined for any other name. */
export function plannedRange(fileName: string): NumberRange | undefined {
  const match = /^plan-(.+)\.json$/.exec(fileName);
  return match ? parseRange(match[1] as string) : undefined;
}

/** The highest number any plan in the sync directory's side directory reserved (0 when none): never used again. */
export async function highestPlannedNumber(syncDir: string): Promise<number> {
  const names = await readdir(join(syncDir, SIDE_DIR)).catch(() => [] as string[]);
  return Math.max(0, ...names.flatMap((name) => plannedRange(name)?.last ?? []));
}
