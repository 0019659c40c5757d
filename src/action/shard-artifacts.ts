import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readShardPlan, type ShardPlan } from '../core/serialize/shard-plan.ts';
import { readShardRecord, type ShardRecord } from '../core/serialize/shard-record.ts';
import { planFileName, shardRecordFileName } from '../core/sync-dir/plan-files.ts';
import { sidePath } from '../core/sync-dir/side-dir.ts';
import { parsePartName } from '../core/sync-dir/sync-name.ts';
import type { ActionSettings } from './inputs.ts';
import type { ListedArtifact, Services } from './services.ts';
import { ArtifactNames, fromThisRepository, plannedRangeOf } from './tracker-state.ts';

/** This run's artifacts (every attempt's) whose names start with `namePrefix`, from this repository. */
async function thisRunsArtifacts(settings: ActionSettings, services: Services, namePrefix: string): Promise<ListedArtifact[]> {
  const trust = { repositoryId: settings.run.repositoryId, defaultBranch: settings.run.defaultBranch };
  return (await services.artifacts.list(namePrefix)).filter(
    (artifact) => artifact.run.id === settings.run.id && !artifact.expired && fromThisRepository(artifact, trust),
  );
}

/**
 * The plan the plan-shards job of this run uploaded, downloaded into `staging`: what shards and the record job trust
 * (never the job's outputs). A re-run of every job plans again above the earlier attempt's numbers: the highest wins.
 */
export async function downloadPlan(
  settings: ActionSettings,
  services: Services,
  staging: string,
): Promise<{ plan: ShardPlan; file: string; artifact: ListedArtifact }> {
  const prefix = settings.cacheKeyPrefix;
  const plans = (await thisRunsArtifacts(settings, services, `${prefix}-plan-`)).flatMap((artifact) => {
    const range = plannedRangeOf(prefix, artifact.name);
    return range === undefined ? [] : [{ artifact, range }];
  });
  const newest = plans.sort((a, b) => a.range.last - b.range.last).at(-1);
  if (newest === undefined) {
    throw new Error(
      `run ${settings.run.id} has no plan artifact ${prefix}-plan-FIRST-LAST: a job with mode plan-shards and the same ` +
        'cache-key-prefix must run first in this workflow run (needs: plan)',
    );
  }
  await services.artifacts.download(newest.artifact, staging);
  const file = sidePath(staging, planFileName(newest.range));
  return { plan: await readShardPlan(file), file, artifact: newest.artifact };
}

/** The records this run's shards uploaded for `plan`, each downloaded into a folder of `staging`. */
export async function downloadShardRecords(
  settings: ActionSettings,
  services: Services,
  plan: ShardPlan,
  staging: string,
): Promise<Array<{ file: string; record: ShardRecord }>> {
  const prefix = settings.cacheKeyPrefix;
  const shards = new Map(plan.shards.map((shard) => [ArtifactNames.shardRecord(prefix, shard), shard]));
  const found = (await thisRunsArtifacts(settings, services, `${prefix}-shard-`)).filter((artifact) => shards.has(artifact.name));
  const byShard = (artifact: ListedArtifact) => shards.get(artifact.name)?.shard ?? 0;
  const records = [];
  for (const artifact of found.sort((a, b) => byShard(a) - byShard(b))) {
    const dir = join(staging, artifact.name);
    await mkdir(dir, { recursive: true });
    await services.artifacts.download(artifact, dir);
    const file = sidePath(dir, shardRecordFileName(shards.get(artifact.name) as ShardPlan['shards'][number]));
    records.push({ file, record: await readShardRecord(file) });
  }
  return records;
}

/** The artifact id of each of the plan's tars this run uploaded, by file name: the tar's, or each of its parts'. */
export async function tarArtifactIds(settings: ActionSettings, services: Services, plan: ShardPlan): Promise<Map<string, number>> {
  const prefix = settings.cacheKeyPrefix;
  const planned = new Set(plan.shards.flatMap((shard) => shard.tars.map((tar) => tar.syncName)));
  const found = (await thisRunsArtifacts(settings, services, `${prefix}-`)).flatMap((artifact) => {
    const fileName = artifact.name.slice(prefix.length + 1);
    return planned.has(parsePartName(fileName)?.syncName ?? fileName) ? [[fileName, artifact.id] as const] : [];
  });
  return new Map(found);
}
