import type { BatchResult } from '../core/batch.ts';
import { formatBytes, formatTable } from '../core/format.ts';

/** The end-of-run table: each tar, its blobs and bytes, and what deduplication saved. */
export function formatReport(result: BatchResult, dryRun: boolean): string {
  const lines: string[] = [];
  for (const { entry, row } of result.plan.upToDate) {
    lines.push(`${entry.name}: ${entry.artifact} is up to date (shipped in ${row.syncName})`);
  }
  if (result.plan.tars.length === 0) {
    lines.push('Nothing new to serialize; nothing was written.');
    return lines.join('\n');
  }
  if (dryRun) {
    const rows = result.plan.tars.map((tar) => [
      tar.syncName,
      `${tar.previous?.artifact ?? '(new)'} -> ${tar.entry.artifact}`,
      `${tar.blobs.length}/${tar.blobs.length + tar.deduplicated.length}`,
      formatBytes(tar.bytes),
      formatBytes(tar.deduplicatedBytes),
    ]);
    lines.push('Dry run: nothing was written. Would write:');
    lines.push(formatTable(['tar', 'artifact', 'new blobs', 'bytes', 'dedup saved'], rows));
    return lines.join('\n');
  }
  const rows = result.written.map((tar) => [
    tar.syncName,
    String(tar.blobs),
    formatBytes(tar.contentBytes),
    formatBytes(tar.bytes),
    `${formatBytes(tar.deduplicatedBytes)} (${tar.deduplicatedBlobs} blobs)`,
  ]);
  const sum = (pick: (tar: (typeof result.written)[number]) => number) => result.written.reduce((total, tar) => total + pick(tar), 0);
  rows.push([
    'total',
    String(sum((t) => t.blobs)),
    formatBytes(sum((t) => t.contentBytes)),
    formatBytes(sum((t) => t.bytes)),
    `${formatBytes(sum((t) => t.deduplicatedBytes))} (${sum((t) => t.deduplicatedBlobs)} blobs)`,
  ]);
  lines.push(formatTable(['tar', 'blobs', 'content', 'file', 'dedup saved'], rows));
  return lines.join('\n');
}
