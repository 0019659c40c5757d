import * as core from '@actions/core';
import { mkdir } from 'node:fs/promises';
import { readBatchList } from '../core/serialize/batch-list.ts';
import { runBatch, type BatchResult } from '../core/serialize/run.ts';
import { pathExists } from '../core/sync-dir/files.ts';
import { totalsOf } from '../core/serialize/write-tars.ts';
import { progressReporter } from '../core/serialize/progress.ts';
import { resultJson } from '../core/serialize/result-json.ts';
import type { SerializeHooks, WrittenTar } from '../core/serialize/write-tars.ts';
import { RegistryAndLayoutStorages } from '../core/serialize/storages.ts';
import type { ActionSettings } from './inputs.ts';
import { Inputs, Outputs } from './constants.ts';
import type { Services } from './services.ts';
import { writeFailureSummary, writePlanSummary, writeSerializeSummary } from './summary.ts';
import {
  ArtifactNames,
  restoreTracker,
  saveTracker,
  trackedPaths,
  trackerFiles,
  type Restored,
  type TrackerFiles,
} from './tracker-state.ts';

/**
 * One job: restore the tracker, then plan (pull requests, other branches) or serialize. Each tar is uploaded before
 * the tracker records it, and the tracker is saved only after that, so nothing is marked shipped that did not reach
 * the artifact store; a tracker that neither the cache nor the artifact store kept fails the run.
 */
export async function exportImpl(settings: ActionSettings, services: Services): Promise<void> {
  const summarized = { done: false };
  try {
    await exportOrPlan(settings, services, summarized);
  } catch (error) {
    if (!summarized.done) await writeFailureSummary(error as Error);
    throw error;
  }
}

async function exportOrPlan(settings: ActionSettings, services: Services, summarized: { done: boolean }): Promise<void> {
  // Read first, so a bad row fails the job before anything is restored or fetched.
  const entries = await readBatchList(settings.batch.batchFile);
  const files = trackerFiles(settings.batch.syncDir, settings.batch.trackerFilename);
  const prefix = settings.cacheKeyPrefix;
  await mkdir(files.syncDir, { recursive: true });
  const progress = progressReporter(process.stderr);
  const storages = new RegistryAndLayoutStorages({
    insecureRegistries: settings.insecureRegistries,
    credentials: explicitCredentials(settings),
    retry: { onRetry: progress.retrying },
  });
  try {
    const trust = { repositoryId: settings.run.repositoryId, defaultBranch: settings.run.defaultBranch };
    const restored = await restoreTracker(files, { prefix, trust, startOver: settings.startOver, runId: settings.run.id }, services);
    setRestoredOutputs(restored);
    const batch = { ...settings.batch, highestUsedNumber: restored.highestUsedNumber };

    if (settings.mode === 'plan') {
      const result = await runBatch(
        { ...batch, dryRun: true },
        storages,
        { resolving: progress.resolving, note: core.info, warning: core.warning },
        entries,
      );
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
      note: core.info,
      warning: core.warning,
      async beforeRecord(tar) {
        if (!settings.upload) return;
        const name = ArtifactNames.tar(prefix, tar.syncName);
        const uploaded = await services.artifacts.upload(name, [tar.path, tar.checksumPath], files.syncDir, settings.retentionDays);
        artifactIds.set(tar.syncName, uploaded.id);
        core.info(`Uploaded ${tar.syncName} as artifact ${name} (${uploaded.id}).`);
      },
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

    core.setOutput(Outputs.Tars, JSON.stringify(written.map((tar) => tar.path)));
    core.setOutput(Outputs.Bytes, String(totalsOf(written).bytes));
    core.setOutput(Outputs.ArtifactIds, JSON.stringify(Object.fromEntries(artifactIds)));
    setCounts(written, result);
    await writeSerializeSummary(result, written, artifactIds, restored, prefix, failure);
    summarized.done = true;
    if (failure) throw failure;
  } finally {
    await storages.close();
  }
}

/**
 * The tracker goes to the cache and, as its backup, to the tracker artifact (the longest retention). Either may be
 * refused; both refused is a failure: the next run would not know what this one shipped (its numbers it would still
 * skip, from the tar artifacts).
 */
async function keepTracker(
  settings: ActionSettings,
  files: TrackerFiles,
  restored: Restored,
  services: Services,
): Promise<Error | undefined> {
  const prefix = settings.cacheKeyPrefix;
  if (!(await pathExists(files.tracker))) return undefined;
  const key = ArtifactNames.cacheKey(prefix, settings.run);
  const saved = await saveTracker(files, prefix, key, restored, services);
  if (saved) core.setOutput(Outputs.SavedKey, key);
  if (!settings.upload) {
    return saved ? undefined : new Error(`the cache refused the tracker (${key}) and ${Inputs.Upload} is false: nothing kept it`);
  }
  const name = ArtifactNames.tracker(prefix);
  try {
    const uploaded = await services.artifacts.upload(name, trackedPaths(files), files.syncDir, settings.trackerRetentionDays);
    core.info(`Uploaded the tracker as artifact ${name} (${uploaded.id}).`);
    return undefined;
  } catch (error) {
    const why = `could not upload the tracker artifact ${name}: ${(error as Error).message}`;
    if (saved) {
      core.warning(`${why}. The cache entry ${key} holds it.`);
      return undefined;
    }
    return new Error(`the cache refused the tracker (${key}) and ${why}: the next run will not know what this run shipped`);
  }
}

function setRestoredOutputs(restored: Restored): void {
  core.setOutput(Outputs.TrackerSource, restored.source);
  core.setOutput(Outputs.RestoredKey, restored.source === 'cache' ? (restored.cacheKey ?? '') : '');
  core.setOutput(Outputs.CacheHit, String(restored.source === 'cache'));
  core.setOutput(Outputs.SavedKey, '');
}

/** mode serialize, asked for on another branch: its tracker is saved in that branch's cache scope. */
function warnOffDefaultBranch(settings: ActionSettings): void {
  const { ref, defaultBranch } = settings.run;
  if (defaultBranch !== undefined && ref === `refs/heads/${defaultBranch}`) return;
  core.warning(
    `Serializing on ${ref || 'an unknown ref'}, not on the default branch ${defaultBranch ?? '(unknown)'}: the cache keeps this ` +
      `run's tracker for ${ref || 'this ref'} only, so the default branch will not see it (its numbers it will skip).`,
  );
}

function setCounts(written: readonly WrittenTar[], result: BatchResult | undefined): void {
  core.setOutput(Outputs.Shipped, String(written.length));
  core.setOutput(Outputs.Skipped, String(result?.plan.upToDate.length ?? 0));
}

/** The password goes to the one registry the `registry` input names, never to a host the batch list chose. */
function explicitCredentials(settings: ActionSettings): Record<string, { username: string; password: string }> {
  const login = settings.registryLogin;
  return login ? { [login.registry]: { username: login.username, password: login.password } } : {};
}
