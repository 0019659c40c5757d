import * as core from '@actions/core';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { progressReporter } from '../core/serialize/progress.ts';
import { serializeShard, type ShardResult } from '../core/serialize/shard-serialize.ts';
import type { WrittenTar } from '../core/serialize/write-tars.ts';
import { Outputs } from './constants.ts';
import type { ActionSettings } from './inputs.ts';
import { openStorages, said } from './registry-access.ts';
import type { Services } from './services.ts';
import { downloadPlan } from './shard-artifacts.ts';
import { writeShardSummary, type Summarized } from './summary.ts';
import { setWrittenOutputs, uploadTar } from './tar-upload.ts';
import { ArtifactNames } from './tracker-state.ts';

/**
 * A matrix job of a sharded run: takes this run's plan artifact, writes the tars of its shard (the plan's numbers,
 * digests and settings; no tracker needed), uploads each, and, once all are up, its record as the artifact
 * PREFIX-shard-FIRST-LAST for the record job. A shard that fails withdraws the tars it uploaded and records nothing:
 * its numbers stay unused, and the next run ships its names again.
 */
export async function serializeShardJob(settings: ActionSettings, services: Services, summarized: Summarized): Promise<void> {
  const syncDir = settings.batch.syncDir;
  await mkdir(syncDir, { recursive: true });
  const staging = await mkdtemp(join(syncDir, '.plan-artifact-'));
  const progress = progressReporter(process.stderr);
  const storages = openStorages(settings, progress);
  try {
    const { plan, file } = await downloadPlan(settings, services, staging);
    const shard = settings.shard as number;
    const written: WrittenTar[] = [];
    const artifactIds = new Map<string, number>();
    const hooks = {
      ...progress,
      ...said,
      beforeRecord: uploadTar(settings, services, artifactIds),
      tarRecorded(tar: WrittenTar) {
        progress.tarRecorded(tar);
        written.push(tar);
      },
    };
    let result: ShardResult | undefined;
    let failure: Error | undefined;
    try {
      const keepTars = settings.batch.keepTars !== false;
      result = await serializeShard(
        { plan, planFile: file, shard, dir: syncDir, concurrency: settings.batch.concurrency, keepTars },
        storages,
        hooks,
      );
      const name = ArtifactNames.shardRecord(settings.cacheKeyPrefix, result.shard);
      const uploaded = await services.artifacts.upload(name, [result.recordPath], syncDir, settings.retentionDays);
      core.info(`Uploaded the record of shard ${shard} as artifact ${name} (${uploaded.id}): the record job merges it.`);
    } catch (error) {
      failure = error as Error;
      await withdraw(settings, services, artifactIds);
    }
    const confirmed = failure === undefined ? written : [];
    setWrittenOutputs(settings, confirmed, failure === undefined ? artifactIds : new Map());
    core.setOutput(Outputs.Shipped, String(confirmed.length));
    await writeShardSummary(plan, shard, written, artifactIds, failure);
    summarized.done = true;
    if (failure) throw failure;
  } finally {
    await storages.close();
    await rm(staging, { recursive: true, force: true });
  }
}

/** The tars this attempt uploaded, deleted: a failed shard leaves no tar the tracker will never record. */
async function withdraw(settings: ActionSettings, services: Services, artifactIds: ReadonlyMap<string, number>): Promise<void> {
  for (const syncName of artifactIds.keys()) {
    const name = ArtifactNames.tar(settings.cacheKeyPrefix, syncName);
    try {
      await services.artifacts.delete(name);
      core.info(`Withdrew artifact ${name}: the shard failed, so nothing records it.`);
    } catch (error) {
      core.warning(`Could not withdraw artifact ${name} of the failed shard (${(error as Error).message}): no tracker records it.`);
    }
  }
}
