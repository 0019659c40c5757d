import { readBatchList, type BatchEntry } from './batch-list.ts';
import type { Storages } from '../oci/storage.ts';
import { replaceFile } from '../sync-dir/files.ts';
import { planFileName } from '../sync-dir/plan-files.ts';
import { makeSideDir, sidePath } from '../sync-dir/side-dir.ts';
import type { Plan, PlanHooks } from './planner.ts';
import { planInSyncDir, type BatchSettings } from './run.ts';
import { buildShardPlan, formatShardPlan, type ShardPlan } from './shard-plan.ts';
import { withSyncDir } from './sync-dir-session.ts';
import type { SerializeHooks } from './write-tars.ts';

export interface ShardPlanResult {
  plan: Plan;
  /** Undefined when nothing ships. */
  shardPlan: ShardPlan | undefined;
  /** `SYNC-DIRECTORY/batch-serialize/plan-FIRST-LAST.json`: the plan, and the reservation of its numbers. */
  path: string | undefined;
}

/**
 * The first step of a sharded run: plans the batch as a dry run does (resolving every artifact, fetching manifests,
 * no layer), splits it into at most `maxShards` shards and writes the plan into the side directory, where it also
 * reserves its numbers: no later run uses them, whichever shards ship. The tracker is not changed.
 */
export async function planShards(
  settings: BatchSettings,
  maxShards: number,
  storages: Storages,
  hooks: SerializeHooks & PlanHooks = {},
  entries?: BatchEntry[],
): Promise<ShardPlanResult> {
  const batch = entries ?? (await readBatchList(settings.batchFile));
  return withSyncDir({ ...settings, command: 'plan', readOnly: false }, hooks, async (session) => {
    const plan = await planInSyncDir(settings, batch, session, storages, hooks);
    const shardPlan = buildShardPlan(plan, {
      maxShards,
      base: session.state.tracker,
      compression: settings.compression,
      compressionLevel: settings.compressionLevel ?? null,
      manifestJson: settings.manifestJson,
      dedupScope: settings.dedupScope,
      trackerFilename: settings.trackerFilename,
      // Only when set: plans without a limit read as before.
      ...(settings.maxFileSize === undefined ? {} : { maxFileSize: settings.maxFileSize }),
    });
    if (shardPlan === undefined) return { plan, shardPlan, path: undefined };
    session.writing();
    await makeSideDir(settings.syncDir);
    const path = sidePath(settings.syncDir, planFileName(shardPlan));
    await replaceFile(path, formatShardPlan(shardPlan));
    return { plan, shardPlan, path };
  });
}
