import { formatBytes, formatSaved } from '../format.ts';
import type { PlannedTar } from './planner.ts';
import { totalsOf, type WrittenTar } from './write-tars.ts';

/**
 * The rows of the two tar tables, built once for the CLI (plain text, formatTable) and the Action (the job
 * summary), so both say the same thing in the same columns. Each output may append columns of its own.
 */

/** What each tar would hold: the CLI's dry run and the Action's plan. */
export const PLAN_COLUMNS = ['tar', 'artifact', 'blobs', 'content', 'dedup saved'];

/** `arrow` joins what the far side holds for the name to what would ship: `->` in plain text, `→` in HTML. */
export function planRow(tar: PlannedTar, arrow = '->'): string[] {
  return [
    tar.syncName,
    `${tar.previous?.artifact ?? '(new)'} ${arrow} ${tar.entry.artifact}`,
    String(tar.blobs.length),
    formatBytes(tar.contentBytes),
    formatSaved({ deduplicatedBlobs: tar.deduplicated.length, deduplicatedBytes: tar.deduplicatedBytes }),
  ];
}

/** The tars written: size is the file's (after compression). */
export const WRITTEN_COLUMNS = ['tar', 'artifact', 'blobs', 'size', 'dedup saved'];

export function writtenRow(tar: WrittenTar): string[] {
  return [tar.syncName, tar.artifact, String(tar.blobs), formatBytes(tar.bytes), formatSaved(tar)];
}

/** The totals of the written tars, in WRITTEN_COLUMNS (no artifact: an empty cell). */
export function writtenTotalRow(tars: readonly WrittenTar[]): string[] {
  const total = totalsOf(tars);
  return ['total', '', String(total.blobs), formatBytes(total.bytes), formatSaved(total)];
}
