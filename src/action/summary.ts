import * as core from '@actions/core';
import type { BatchResult } from '../core/serialize/run.ts';
import { PLAN_COLUMNS, planRow, WRITTEN_COLUMNS, writtenRow, writtenTotalRow } from '../core/serialize/tar-rows.ts';
import type { WrittenTar } from '../core/serialize/write-tars.ts';
import type { Restored } from './tracker-state.ts';

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
    const rows = written.map((tar) => [...writtenRow(tar), String(artifactIds.get(tar.syncName) ?? 'not uploaded')]);
    const [label, ...totals] = writtenTotalRow(written);
    rows.push([`<b>${label}</b>`, ...totals, '']);
    // @actions/core leaves an empty cell unclosed: a space keeps the table whole.
    summary.addTable([header(...WRITTEN_COLUMNS, 'artifact id'), ...rows.map((row) => row.map((cell) => cell || ' '))]);
  } else if (!failure) {
    summary.addRaw('<p>Nothing new to serialize: every artifact is up to date.</p>', true);
  }
  addUpToDate(result);
  await summary.write();
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

function addUpToDate(result: BatchResult | undefined): void {
  const upToDate = result?.plan.upToDate ?? [];
  if (upToDate.length === 0) return;
  core.summary
    .addRaw('<p>Up to date:</p>', true)
    .addList(upToDate.map(({ entry, row }) => `${entry.name}: ${entry.artifact} (in ${row.syncName})`));
}
