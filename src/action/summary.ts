import * as core from '@actions/core';
import type { BatchResult } from '../core/serialize/run.ts';
import { PLAN_COLUMNS, planRow, WRITTEN_COLUMNS, writtenRow, writtenTotalRow } from '../core/serialize/tar-rows.ts';
import type { WrittenTar } from '../core/serialize/write-tars.ts';
import type { Restored } from './tracker-state.ts';
import type { ShardPlanResult } from '../core/serialize/plan-shards.ts';
import type { RecordShardsResult } from '../core/serialize/record-shards.ts';
import type { ShardPlan } from '../core/serialize/shard-plan.ts';
import { formatRange } from '../core/sync-dir/plan-files.ts';
import { formatBytes } from '../core/format.ts';
import type { LedgerEntry } from '../core/sync-dir/ledger.ts';
import { artifactIdsOf } from './tar-upload.ts';

/** Set by a job once its summary is written: a failure after that does not write another. */
export interface Summarized {
  done: boolean;
}

const header = (...cells: string[]) => cells.map((data) => ({ data, header: true }));

/** The job summary says first, and loudly when it was not the cache, where the tracker came from. */
function restoredNote(restored: Restored, prefix: string): string {
  const above = restored.highestUsedNumber > restored.generation ? ` New tars are numbered above ${restored.highestUsedNumber}.` : '';
  switch (restored.source) {
    case 'cache':
      return `Tracker restored from cache entry <code>${restored.cacheKey}</code>.${above}`;
    case 'artifact': {
      const cache = restored.cacheKey ? `<code>${restored.cacheKey}</code> is older` : 'evicted?';
      return (
        `⚠️ <b>The cache did not have the newest tracker</b> (${cache}): ` +
        `it was taken from artifact <code>${restored.artifact?.name}</code> of run ${restored.artifact?.run.id}.${above}`
      );
    }
    case 'none':
      return restored.startedOver
        ? '⚠️ <b>The tracker was lost; starting over as asked</b>: ' +
            `everything is serialized again, numbered above ${restored.highestUsedNumber}.`
        : `⚠️ <b>No tracker found</b> (no cache entry, no artifact of <code>${prefix}</code>): a first run, everything is serialized.`;
  }
}

/** A run that failed before it had anything to show: the summary says why. */
export async function writeFailureSummary(error: Error): Promise<void> {
  await core.summary.addHeading('batch-serialize: failed', 2).addQuote(`❌ ${error.message}`).write();
}

export async function writeSerializeSummary(
  result: BatchResult | undefined,
  written: readonly WrittenTar[],
  artifactIds: ReadonlyMap<string, number>,
  restored: Restored,
  prefix: string,
  failure: Error | undefined,
): Promise<void> {
  const summary = core.summary.addHeading('batch-serialize: export', 2).addRaw(restoredNote(restored, prefix), true);
  if (failure) summary.addQuote(`❌ The run failed: ${failure.message}. Tars listed below are uploaded and recorded; nothing else is.`);
  if (written.length > 0) {
    addWrittenTable(written, artifactIds);
  } else if (!failure) {
    summary.addRaw('<p>Nothing new to serialize: every artifact is up to date.</p>', true);
  }
  addUpToDate(result);
  await summary.write();
}

/** Each tar with its artifact id, and the totals. */
function addWrittenTable(written: readonly WrittenTar[], artifactIds: ReadonlyMap<string, number>): void {
  const ids = (tar: WrittenTar) => artifactIdsOf(artifactIds, tar.syncName, tar.files.length).join(', ') || 'not uploaded';
  const rows = written.map((tar) => [...writtenRow(tar), ids(tar)]);
  const [label, ...totals] = writtenTotalRow(written);
  rows.push([`<b>${label}</b>`, ...totals, '']);
  // @actions/core leaves an empty cell unclosed: a space keeps the table whole.
  core.summary.addTable([header(...WRITTEN_COLUMNS, 'artifact id'), ...rows.map((row) => row.map((cell) => cell || ' '))]);
}

export async function writePlanSummary(result: BatchResult, restored: Restored, prefix: string): Promise<void> {
  const summary = core.summary.addHeading('batch-serialize: plan', 2).addRaw(restoredNote(restored, prefix), true);
  if (result.plan.tars.length === 0) {
    summary.addRaw('<p>Nothing would ship: every artifact is up to date.</p>', true);
  } else {
    summary.addTable([header(...PLAN_COLUMNS), ...result.plan.tars.map((tar) => planRow(tar, '→'))]);
  }
  addUpToDate(result);
  await summary.write();
}

function addUpToDate(result: Pick<BatchResult, 'plan'> | undefined): void {
  const upToDate = result?.plan.upToDate ?? [];
  if (upToDate.length === 0) return;
  core.summary
    .addRaw('<p>Up to date:</p>', true)
    .addList(upToDate.map(({ entry, row }) => `${entry.name}: ${entry.artifact} (in ${row.syncName})`));
}

/** plan-shards: the shards of the matrix, then every tar as it is numbered in the plan. */
export async function writeShardPlanSummary(result: ShardPlanResult, restored: Restored, prefix: string): Promise<void> {
  const summary = core.summary.addHeading('batch-serialize: plan for shards', 2).addRaw(restoredNote(restored, prefix), true);
  const { shardPlan } = result;
  if (shardPlan === undefined) {
    summary.addRaw('<p>Nothing would ship: every artifact is up to date. No shard runs.</p>', true);
  } else {
    const note = shardPlan.oneShard === null ? '' : ` One shard: ${shardPlan.oneShard}.`;
    summary.addRaw(`<p>Plan <code>${shardPlan.id}</code>: ${shardPlan.shards.length} shard(s).${note}</p>`, true);
    summary.addTable([header('shard', 'tars', 'names', 'content'), ...shardRows(shardPlan)]);
    // The planner numbered in batch-list order; the plan's numbers are what the shards write.
    const numbered = new Map(shardPlan.shards.flatMap((shard) => shard.tars.map((tar) => [tar.name, tar.syncName])));
    const rows = result.plan.tars.map((tar) => planRow({ ...tar, syncName: numbered.get(tar.entry.name) ?? tar.syncName }, '→'));
    summary.addTable([header(...PLAN_COLUMNS), ...rows.sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1))]);
  }
  addUpToDate(result);
  await summary.write();
}

function shardRows(plan: ShardPlan): string[][] {
  return plan.shards.map((shard) => [
    String(shard.shard),
    formatRange(shard),
    shard.tars.map((tar) => tar.name).join(', '),
    formatBytes(shard.contentBytes),
  ]);
}

/** serialize-shard: the tars written and uploaded, or why the shard failed (its tars withdrawn). */
export async function writeShardSummary(
  plan: ShardPlan,
  shard: number,
  written: readonly WrittenTar[],
  artifactIds: ReadonlyMap<string, number>,
  failure: Error | undefined,
): Promise<void> {
  const range = plan.shards[shard - 1];
  const summary = core.summary.addHeading(`batch-serialize: shard ${shard} of plan ${plan.id}`, 2);
  if (range !== undefined) summary.addRaw(`<p>Tars ${formatRange(range)}: ${range.tars.map((tar) => tar.name).join(', ')}.</p>`, true);
  if (failure) {
    summary.addQuote(
      `❌ The shard failed: ${failure.message}. Nothing of it is recorded: its numbers stay unused, and the next run ships its names again.`,
    );
  } else if (written.length > 0) addWrittenTable(written, artifactIds);
  await summary.write();
}

/** record-shards: each shard's fate, the tars recorded, where the tracker came from. */
export async function writeRecordSummary(
  plan: ShardPlan,
  result: RecordShardsResult | undefined,
  artifactIds: ReadonlyMap<string, number>,
  restored: Restored,
  prefix: string,
  failure: Error | undefined,
): Promise<void> {
  const summary = core.summary.addHeading(`batch-serialize: record of plan ${plan.id}`, 2).addRaw(restoredNote(restored, prefix), true);
  if (failure) summary.addQuote(`❌ ${failure.message}`);
  if (result !== undefined) {
    const states = { recorded: '✅ recorded', 'recorded before': '✅ recorded before', unconfirmed: '⚠️ no record: numbers unused' };
    const rows = shardRows(plan).map((row, i) => [...row, states[result.shards[i]?.state ?? 'unconfirmed']]);
    summary.addTable([header('shard', 'tars', 'names', 'content', 'state'), ...rows]);
    if (result.recorded.length > 0) {
      const ids = (entry: LedgerEntry) => artifactIdsOf(artifactIds, entry.syncName, entry.tar?.parts).join(', ');
      summary.addList(result.recorded.map((entry) => `${entry.syncName}: ${entry.artifact} (artifact ${ids(entry)})`));
    }
  }
  await summary.write();
}
