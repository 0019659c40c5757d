import * as core from '@actions/core';
import { readBatchList } from '../core/serialize/batch-list.ts';
import { runBatch, type BatchResult } from '../core/serialize/run.ts';
import { progressReporter } from '../core/serialize/progress.ts';
import { resultJson } from '../core/serialize/result-json.ts';
import type { SerializeHooks, WrittenTar } from '../core/serialize/write-tars.ts';
import type { ActionSettings } from './inputs.ts';
import { Outputs } from './constants.ts';
import type { Services } from './services.ts';
import { openStorages, said } from './registry-access.ts';
import { planShardsJob } from './plan-shards.ts';
import { recordShardsJob } from './record-shards.ts';
import { serializeShardJob } from './serialize-shard.ts';
import { writeFailureSummary, writePlanSummary, writeSerializeSummary, type Summarized } from './summary.ts';
import { keepTracker, restoreForJob, trackerFiles, warnOffDefaultBranch } from './tracker-state.ts';
import { setWrittenOutputs, uploadTar } from './tar-upload.ts';

/**
 * One step of a workflow, by mode: a whole run in one job (plan or serialize), or one of the three jobs of a sharded
 * run. A job that fails before its summary is written gets a summary saying why.
 */
export async function exportImpl(settings: ActionSettings, services: Services): Promise<void> {
  const summarized: Summarized = { done: false };
  try {
    switch (settings.mode) {
      case 'plan':
      case 'serialize':
        return await exportOrPlan(settings, services, summarized);
      case 'plan-shards':
        return await planShardsJob(settings, services, summarized);
      case 'serialize-shard':
        return await serializeShardJob(settings, services, summarized);
      case 'record-shards':
        return await recordShardsJob(settings, services, summarized);
    }
  } catch (error) {
    if (!summarized.done) await writeFailureSummary(error as Error);
    throw error;
  }
}

/**
 * One job: restore the tracker, then plan (pull requests, other branches) or serialize. Each tar is uploaded before
 * the tracker records it, and the tracker is saved only after that, so nothing is marked shipped that did not reach
 * the artifact store; a tracker that neither the cache nor the artifact store kept fails the run.
 */
async function exportOrPlan(settings: ActionSettings, services: Services, summarized: Summarized): Promise<void> {
  // Read first, so a bad row fails the job before anything is restored or fetched.
  const entries = await readBatchList(settings.batch.batchFile);
  const files = trackerFiles(settings.batch.syncDir, settings.batch.trackerFilename);
  const prefix = settings.cacheKeyPrefix;
  const progress = progressReporter(process.stderr);
  const storages = openStorages(settings, progress);
  try {
    const restored = await restoreForJob(settings, files, services);
    const batch = { ...settings.batch, highestUsedNumber: restored.highestUsedNumber };

    if (settings.mode === 'plan') {
      const result = await runBatch({ ...batch, dryRun: true }, storages, { resolving: progress.resolving, ...said }, entries);
      core.setOutput(Outputs.Plan, JSON.stringify(resultJson(result, true)));
      setCounts([], result);
      await writePlanSummary(result, restored, prefix);
      summarized.done = true;
      return;
    }
    warnOffDefaultBranch(settings);

    const written: WrittenTar[] = [];
    const artifactIds = new Map<string, number>();
    let result: BatchResult | undefined;
    let failure: Error | undefined;
    const hooks: SerializeHooks = {
      ...progress,
      ...said,
      beforeRecord: settings.upload ? uploadTar(settings, services, artifactIds) : undefined,
      tarRecorded(tar) {
        progress.tarRecorded(tar);
        written.push(tar);
      },
    };
    try {
      result = await runBatch(batch, storages, hooks, entries);
    } catch (error) {
      failure = error as Error;
    }

    if (written.length > 0 || restored.source === 'artifact' || restored.startedOver) {
      // Kept even when the run failed: the tars before the failure are uploaded and recorded.
      const notKept = await keepTracker(settings, files, restored, services);
      failure ??= notKept;
    }

    setWrittenOutputs(settings, written, artifactIds);
    setCounts(written, result);
    await writeSerializeSummary(result, written, artifactIds, restored, prefix, failure);
    summarized.done = true;
    if (failure) throw failure;
  } finally {
    await storages.close();
  }
}

function setCounts(written: readonly WrittenTar[], result: BatchResult | undefined): void {
  core.setOutput(Outputs.Shipped, String(written.length));
  core.setOutput(Outputs.Skipped, String(result?.plan.upToDate.length ?? 0));
}
