import type { BatchResult } from '../core/serialize/run.ts';
import type { ShardPlanResult } from '../core/serialize/plan-shards.ts';
import type { RecordShardsResult } from '../core/serialize/record-shards.ts';
import type { ShardResult } from '../core/serialize/shard-serialize.ts';
import { formatRange } from '../core/sync-dir/plan-files.ts';
import { formatNumber } from '../core/sync-dir/sync-name.ts';
import type { DeserializeResult } from '../core/far-side/deserialize.ts';
import { formatBytes, formatTable } from '../core/format.ts';
import { PLAN_COLUMNS, planRow, WRITTEN_COLUMNS, writtenRow, writtenTotalRow } from '../core/serialize/tar-rows.ts';
import type { ExpectedHolder, VerifyReport } from '../core/far-side/verify.ts';
import type { CollectResult } from '../github/collect.ts';

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
    lines.push('Dry run: nothing was written. Would write:');
    const rows = result.plan.tars.map((tar) => planRow(tar));
    lines.push(formatTable(PLAN_COLUMNS, rows));
    return lines.join('\n');
  }
  const rows = [...result.written.map((tar) => writtenRow(tar)), writtenTotalRow(result.written)];
  lines.push(formatTable(WRITTEN_COLUMNS, rows));
  return lines.join('\n');
}

/** plan's summary: what is up to date, each shard with its tars and bytes, and where the plan went. */
export function formatShardPlan(result: ShardPlanResult): string {
  const lines = result.plan.upToDate.map(({ entry, row }) => `${entry.name}: ${entry.artifact} is up to date (shipped in ${row.syncName})`);
  const { shardPlan, path } = result;
  if (shardPlan === undefined) return [...lines, 'Nothing new to serialize; no plan was written.'].join('\n');
  const rows = shardPlan.shards.map((shard) => [
    String(shard.shard),
    formatRange(shard),
    shard.tars.map((tar) => tar.name).join(', '),
    formatBytes(shard.contentBytes),
  ]);
  lines.push(formatTable(['shard', 'tars', 'names', 'content'], rows));
  if (shardPlan.oneShard !== null) lines.push(`One shard: ${shardPlan.oneShard}.`);
  lines.push(
    `Plan ${shardPlan.id} written to ${path}: run serialize --shard K --plan ${path} DIRECTORY for K = 1..${shardPlan.shards.length}.`,
  );
  return lines.join('\n');
}

/** serialize --shard's summary: the tars written (a run again lists only those it wrote) and the record. */
export function formatShardResult(result: ShardResult): string {
  const lines =
    result.written.length > 0
      ? [formatTable(WRITTEN_COLUMNS, [...result.written.map((tar) => writtenRow(tar)), writtenTotalRow(result.written)])]
      : [];
  const { shard, record, recordPath } = result;
  lines.push(`Shard ${shard.shard} of plan ${record.plan} (${formatRange(shard)}) is complete; its record: ${recordPath}`);
  return lines.join('\n');
}

/** record's summary: each shard and what became of it. */
export function formatRecordResult(result: RecordShardsResult): string {
  const states = { recorded: 'recorded', 'recorded before': 'recorded before', unconfirmed: 'no record: numbers unused' } as const;
  const rows = result.shards.map(({ shard, state }) => [
    String(shard.shard),
    formatRange(shard),
    shard.tars.map((tar) => tar.name).join(', '),
    states[state],
  ]);
  const recorded =
    result.recorded.length === 0 ? 'Nothing new recorded.' : `Recorded ${result.recorded.map((entry) => entry.syncName).join(', ')}.`;
  return [formatTable(['shard', 'tars', 'names', 'state'], rows), recorded].join('\n');
}

/** verify's report: a line per tar, then every problem and note, each naming its tar. */
export function formatVerifyReport(report: VerifyReport): string {
  const rows = report.tars.map((tar) => [
    tar.syncName,
    tar.bytes === null ? '-' : formatBytes(tar.bytes),
    tar.sidecar ?? '-',
    String(tar.blobs),
    String(tar.fromEarlierTars + tar.fromLoadedTars.length),
    tar.ok ? 'ok' : 'FAILED',
  ]);
  const lines = rows.length > 0 ? [formatTable(['tar', 'size', 'sidecar', 'blobs', 'from earlier', 'result'], rows)] : [];
  const problems = [
    ...report.problems,
    ...report.tars.flatMap((tar) => [
      ...tar.problems.map((problem) => `${tar.syncName}: ${problem}`),
      ...tar.missing
        .slice(0, LISTED_BLOBS)
        .map((blob) => `${tar.syncName}: needs ${blob.digest} (${blob.mediaType}, ${blob.size} bytes), ${holders(blob.expectedIn)}`),
      ...(tar.missing.length > LISTED_BLOBS
        ? [`${tar.syncName}: … and ${tar.missing.length - LISTED_BLOBS} more blob(s) (--json lists them all)`]
        : []),
    ]),
  ];
  const notes = [...report.notes, ...report.tars.flatMap((tar) => tar.notes.map((note) => `${tar.syncName}: ${note}`))];
  if (problems.length > 0) lines.push('Problems:', ...problems.map((p) => `  ${p}`));
  if (notes.length > 0) lines.push('Notes:', ...notes.map((n) => `  ${n}`));
  const failed = report.tars.filter((tar) => !tar.ok).length;
  lines.push(
    report.ok
      ? `Verified: ${report.tars.length} tar(s) in ${report.dir}, everything checks out.`
      : `FAILED: ${failed} of ${report.tars.length} tar(s) have problems, ${report.problems.length} problem(s) with the directory.`,
  );
  return lines.join('\n');
}

const LISTED_BLOBS = 10;

function holders(expectedIn: ExpectedHolder[]): string {
  if (expectedIn.length === 0) return 'which no earlier tar could have held (the tar itself is incomplete)';
  const named = expectedIn.map((holder) => `${holder.syncName} (${holder.state === 'absent' ? 'not here' : holder.state})`);
  return `which should be in ${named.length === 1 ? named[0] : `one of ${named.join(', ')}`}`;
}

/** deserialize's summary: each tar loaded, what went up, where it is tagged. */
export function formatDeserializeResult(result: DeserializeResult): string {
  const lines: string[] = [];
  if (result.skipped.length > 0) lines.push(`Already loaded (successful-syncs.csv): ${result.skipped.join(', ')}`);
  if (result.loaded.length === 0) lines.push('Nothing new to load.');
  else lines.push(loadedTable(result));
  // One line per image scattered, with the digest its target holds: tars loaded now and before alike.
  if (result.scattered.length > 0) {
    lines.push('Scattered:', ...result.scattered.map((image) => `  ${image.source} -> ${image.target} (${image.digest})`));
  }
  return lines.join('\n');
}

function loadedTable(result: DeserializeResult): string {
  const rows = result.loaded.map((tar) => [
    tar.syncName,
    tar.reference,
    `${tar.uploaded} (${formatBytes(tar.uploadedBytes)})`,
    String(tar.mounted),
    String(tar.present),
    String(tar.manifestsPushed),
  ]);
  return formatTable(['tar', 'loaded as', 'uploaded', 'mounted', 'present', 'manifests'], rows);
}

/** collect's summary: each tar downloaded (and from which artifact), then every problem and note. */
export function formatCollectResult(result: CollectResult): string {
  const lines: string[] = [];
  if (result.collected.length > 0) {
    const rows = result.collected.map((tar) => [
      tar.syncName,
      `${tar.artifact.name} (id ${tar.artifact.id})`,
      String(tar.artifact.runId ?? '-'),
      formatBytes(tar.bytes),
    ]);
    lines.push(formatTable(['collected', 'artifact', 'run', 'size'], rows));
  }
  if (result.tracker !== undefined) {
    const { tracker } = result;
    const what = { taken: 'collected', same: 'here already', kept: 'behind the one here, not taken' }[tracker.state];
    lines.push(
      `Tracker: ${tracker.artifact.name} (id ${tracker.artifact.id}, run ${tracker.artifact.runId ?? '-'}), ` +
        `${tracker.rows} row(s) up to ${formatNumber(tracker.highest)}: ${what}`,
    );
  }
  if (result.problems.length > 0) lines.push('Problems:', ...result.problems.map((p) => `  ${p.message}`));
  if (result.notes.length > 0) lines.push('Notes:', ...result.notes.map((n) => `  ${n}`));
  const bytes = result.collected.reduce((sum, tar) => sum + tar.bytes, 0);
  const here = `${result.present.length} tar(s) already here matched their sidecars`;
  const collected =
    result.collected.length === 0
      ? 'nothing new collected'
      : `collected ${result.collected.length} tar(s), ${formatBytes(bytes)}, into ${result.dir}`;
  lines.push(result.ok ? `Done: ${collected}; ${here}.` : `FAILED: ${result.problems.length} problem(s); ${collected}; ${here}.`);
  return lines.join('\n');
}
