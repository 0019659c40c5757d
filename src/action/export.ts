import * as core from '@actions/core';
import { mkdir } from 'node:fs/promises';
import { readBatchList, type BatchEntry } from '../core/serialize/batch-list.ts';
import { runBatch, type BatchResult } from '../core/serialize/run.ts';
import { pathExists } from '../core/sync-dir/files.ts';
import { totalsOf } from '../core/serialize/write-tars.ts';
import { InputError } from '../core/input-error.ts';
import { progressReporter } from '../core/serialize/progress.ts';
import { resultJson } from '../core/serialize/result-json.ts';
import type { SerializeHooks, WrittenTar } from '../core/serialize/write-tars.ts';
import { RegistryAndLayoutStorages } from '../core/serialize/storages.ts';
import type { ActionSettings } from './inputs.ts';
import { Inputs, Outputs } from './constants.ts';
import type { Services } from './services.ts';
import { writePlanSummary, writeSerializeSummary } from './summary.ts';
import { restoreTracker, saveTracker, trackerArtifactName, trackerFiles } from './tracker-state.ts';

/**
 * One job: restore the tracker, then plan (pull requests) or serialize. Each tar is uploaded before the
 * tracker records it, and the tracker is saved only after that, so nothing is marked shipped that did not
 * reach the artifact store.
 */
export async function exportImpl(settings: ActionSettings, services: Services): Promise<void> {
  // Read first, so a bad row fails the job before anything is restored or fetched.
  const entries = await readBatchList(settings.batch.batchFile);
  const files = trackerFiles(settings.batch.syncDir, settings.batch.trackerFilename);
  const prefix = settings.cacheKeyPrefix;
  await mkdir(files.syncDir, { recursive: true });
  const storages = new RegistryAndLayoutStorages({
    insecureRegistries: settings.insecureRegistries,
    credentials: explicitCredentials(settings, entries),
  });
  try {
    const restored = await restoreTracker(files, prefix, services);
    core.setOutput(Outputs.TrackerCacheKey, restored.from === 'cache' ? restored.key : '');

    if (settings.mode === 'plan') {
      const result = await runBatch({ ...settings.batch, dryRun: true }, storages, {}, entries);
      core.setOutput(Outputs.Plan, JSON.stringify(resultJson(result, true)));
      setCounts([], result);
      await writePlanSummary(result, restored, prefix);
      return;
    }

    const written: WrittenTar[] = [];
    const artifactIds = new Map<string, number>();
    const progress = progressReporter(process.stderr);
    let result: BatchResult | undefined;
    let failure: Error | undefined;
    const hooks: SerializeHooks = {
      ...progress,
      async beforeRecord(tar) {
        if (!settings.upload) return;
        const uploaded = await services.artifacts.upload(tar.syncName, [tar.path, tar.checksumPath], files.syncDir, settings.retentionDays);
        artifactIds.set(tar.syncName, uploaded.id);
        core.info(`Uploaded ${tar.syncName} as artifact ${uploaded.id}.`);
      },
      tarRecorded(tar) {
        progress.tarRecorded(tar);
        written.push(tar);
      },
    };
    try {
      result = await runBatch(settings.batch, storages, hooks, entries);
    } catch (error) {
      failure = error as Error;
    }

    if (written.length > 0) {
      const key = `${prefix}-${settings.run.id}-${settings.run.attempt}`;
      await saveTracker(files, prefix, key, restored, services);
      core.setOutput(Outputs.TrackerCacheKey, key);
    }
    if (settings.upload && (await pathExists(files.tracker)))
      await uploadTrackerArtifact(settings, files.syncDir, [files.tracker, files.ledger], services);

    core.setOutput(Outputs.Tars, JSON.stringify(written.map((tar) => tar.path)));
    core.setOutput(Outputs.Bytes, String(totalsOf(written).bytes));
    core.setOutput(Outputs.ArtifactIds, JSON.stringify(Object.fromEntries(artifactIds)));
    setCounts(written, result);
    await writeSerializeSummary(result, written, artifactIds, restored, prefix, failure);
    if (failure) throw failure;
  } finally {
    await storages.close();
  }
}

function setCounts(written: readonly WrittenTar[], result: BatchResult | undefined): void {
  core.setOutput(Outputs.Shipped, String(written.length));
  core.setOutput(Outputs.Skipped, String(result?.plan.upToDate.length ?? 0));
}

/** A backup of the tracker and ledger in the artifact store, for when the cache evicts its entry. */
async function uploadTrackerArtifact(settings: ActionSettings, syncDir: string, paths: string[], services: Services): Promise<void> {
  const name = trackerArtifactName(settings.cacheKeyPrefix);
  const existing = [];
  for (const path of paths) if (await pathExists(path)) existing.push(path);
  try {
    const uploaded = await services.artifacts.upload(name, existing, syncDir, settings.retentionDays);
    core.info(`Uploaded the tracker as artifact ${name} (${uploaded.id}).`);
  } catch (error) {
    core.warning(`Could not upload the tracker backup artifact ${name}: ${(error as Error).message}. The cache holds it.`);
  }
}

/**
 * registry-username/password are sent to one registry only: the `registry` input, or the one registry the
 * batch list names. Several registries need `registry`, so a password never reaches another host.
 */
function explicitCredentials(settings: ActionSettings, entries: BatchEntry[]): Record<string, { username: string; password: string }> {
  const login = settings.registryLogin;
  if (!login) return {};
  let registry = login.registry;
  if (registry === undefined) {
    const registries = [...new Set(entries.flatMap(({ reference }) => (reference.kind === 'registry' ? [reference.registry] : [])))];
    if (registries.length !== 1) {
      throw new InputError(
        `input ${Inputs.Registry} is needed with ${Inputs.RegistryUsername}: ` +
          `${settings.batch.batchFile} names ${registries.length} registries (${registries.join(', ')})`,
      );
    }
    registry = registries[0] as string;
  }
  return { [registry]: { username: login.username, password: login.password } };
}
