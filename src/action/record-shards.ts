import * as core from '@actions/core';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { recordShards, type RecordShardsResult } from '../core/serialize/record-shards.ts';
import { Outputs } from './constants.ts';
import type { ActionSettings } from './inputs.ts';
import { said } from './registry-access.ts';
import type { Services } from './services.ts';
import { downloadPlan, downloadShardRecords, tarArtifactIds } from './shard-artifacts.ts';
import { writeRecordSummary, type Summarized } from './summary.ts';
import { keepTracker, restoreForJob, trackerFiles } from './tracker-state.ts';
import { artifactIdsOf, artifactIdsOutput } from './tar-upload.ts';
import type { LedgerEntry } from '../core/sync-dir/ledger.ts';

/**
 * The last job of a sharded run (`if: always()` after the matrix): restores the tracker, which must be the one the
 * plan was made from (another run's newer tracker is never merged over: the job fails, recording nothing), merges
 * the records the shards uploaded, in number order, and saves the tracker once, to the cache and the tracker
 * artifact. A shard without a record leaves its numbers unused, said in a warning.
 */
export async function recordShardsJob(settings: ActionSettings, services: Services, summarized: Summarized): Promise<void> {
  const syncDir = settings.batch.syncDir;
  await mkdir(syncDir, { recursive: true });
  const staging = await mkdtemp(join(syncDir, '.shard-artifacts-'));
  try {
    const { plan } = await downloadPlan(settings, services, staging);
    const files = trackerFiles(syncDir, plan.settings.trackerFilename);
    // A plan made without a tracker (a first run, or one started over) expects none here either.
    const restored = await restoreForJob(settings, files, services, settings.startOver || plan.base.rows === 0);
    const ids = await tarArtifactIds(settings, services, plan);
    // Only what reached the artifact store is recorded: a record whose tars are not all there is left out.
    const records = (await downloadShardRecords(settings, services, plan, staging)).filter(({ record }) => {
      const uploaded = (entry: LedgerEntry) => artifactIdsOf(ids, entry.syncName, entry.tar?.parts).length > 0;
      const missing = record.tars.filter((entry) => !uploaded(entry)).map((entry) => entry.syncName);
      if (missing.length > 0)
        core.warning(`Shard ${record.shard}'s record names ${missing.join(', ')}, not in this run's artifacts: not recorded.`);
      return missing.length === 0;
    });
    let result: RecordShardsResult | undefined;
    let failure: Error | undefined;
    try {
      result = await recordShards({ syncDir, plan, records, moveTars: false }, said);
    } catch (error) {
      failure = error as Error;
    }
    if (result !== undefined && (result.recorded.length > 0 || restored.source === 'artifact' || restored.startedOver)) {
      failure = await keepTracker(settings, files, restored, services);
    }
    const recorded = result?.recorded ?? [];
    core.setOutput(Outputs.Tars, JSON.stringify(recorded.map((entry) => entry.syncName)));
    core.setOutput(Outputs.Bytes, String(recorded.reduce((sum, entry) => sum + (entry.tar?.bytes ?? 0), 0)));
    core.setOutput(
      Outputs.ArtifactIds,
      artifactIdsOutput(
        ids,
        recorded.map((entry) => ({ syncName: entry.syncName, parts: entry.tar?.parts })),
      ),
    );
    core.setOutput(Outputs.Shipped, String(recorded.length));
    core.setOutput(Outputs.Skipped, String(plan.upToDate.length));
    await writeRecordSummary(plan, result, ids, restored, settings.cacheKeyPrefix, failure);
    summarized.done = true;
    if (failure) throw failure;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
