import * as core from '@actions/core';
import { readBatchList } from '../core/serialize/batch-list.ts';
import { planShards } from '../core/serialize/plan-shards.ts';
import { progressReporter } from '../core/serialize/progress.ts';
import { shardSummaries, type ShardPlan } from '../core/serialize/shard-plan.ts';
import { Outputs } from './constants.ts';
import type { ActionSettings } from './inputs.ts';
import { openStorages, said } from './registry-access.ts';
import type { Services } from './services.ts';
import { writeShardPlanSummary, type Summarized } from './summary.ts';
import { ArtifactNames, restoreForJob, trackerFiles, warnOffDefaultBranch } from './tracker-state.ts';

/** A matrix entry: `shard` for the serialize-shard job's input; `tars`, `names` and `bytes` to name the job. */
export interface MatrixEntry {
  shard: number;
  tars: string;
  names: string;
  bytes: number;
}

/**
 * The first job of a sharded run: restores the tracker, plans against it, and uploads the plan as the artifact
 * PREFIX-plan-FIRST-LAST, which fixes everything a shard writes and reserves its numbers for good. Its `matrix` output
 * fans the shards out; nothing is saved.
 */
export async function planShardsJob(settings: ActionSettings, services: Services, summarized: Summarized): Promise<void> {
  const entries = await readBatchList(settings.batch.batchFile);
  const files = trackerFiles(settings.batch.syncDir, settings.batch.trackerFilename);
  const progress = progressReporter(process.stderr);
  const storages = openStorages(settings, progress);
  try {
    const restored = await restoreForJob(settings, files, services);
    warnOffDefaultBranch(settings);
    const batch = { ...settings.batch, highestUsedNumber: restored.highestUsedNumber };
    const result = await planShards(batch, settings.shards, storages, { resolving: progress.resolving, ...said }, entries);
    const { shardPlan, path } = result;
    if (shardPlan !== undefined && path !== undefined) {
      const name = ArtifactNames.plan(settings.cacheKeyPrefix, shardPlan);
      const uploaded = await services.artifacts.upload(name, [path], files.syncDir, settings.retentionDays);
      core.info(`Uploaded plan ${shardPlan.id} (${shardPlan.shards.length} shard(s)) as artifact ${name} (${uploaded.id}).`);
    }
    const matrix = shardPlan === undefined ? [] : matrixOf(shardPlan);
    core.setOutput(Outputs.Matrix, JSON.stringify({ include: matrix }));
    core.setOutput(Outputs.ShardCount, String(matrix.length));
    core.setOutput(Outputs.Skipped, String(result.plan.upToDate.length));
    await writeShardPlanSummary(result, restored, settings.cacheKeyPrefix);
    summarized.done = true;
  } finally {
    await storages.close();
  }
}

/** Job names stay readable: a long list of names is cut, saying how many there are. */
const NAMES_SHOWN = 100;

function matrixOf(plan: ShardPlan): MatrixEntry[] {
  return shardSummaries(plan).map(({ shard, tars, names, contentBytes }) => {
    const all = names.join(', ');
    const shown = all.length <= NAMES_SHOWN ? all : `${all.slice(0, NAMES_SHOWN)}… (${names.length} names)`;
    return { shard, tars, names: shown, bytes: contentBytes };
  });
}
