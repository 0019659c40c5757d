import * as core from '@actions/core';
import { join } from 'node:path';
import { pathExists } from '../core/sync-dir/files.ts';
import { ledgerPath } from '../core/sync-dir/ledger.ts';
import type { Services } from './services.ts';

/** Where this run's tracker came from: said in the log and, loudly, in the summary. */
export type Restored =
  { from: 'cache'; key: string } | { from: 'artifact'; name: string; artifactId: number; runId: number } | { from: 'nothing' };

export interface TrackerFiles {
  syncDir: string;
  tracker: string;
  ledger: string;
}

export function trackerFiles(syncDir: string, trackerFilename: string): TrackerFiles {
  const tracker = join(syncDir, trackerFilename);
  return { syncDir, tracker, ledger: ledgerPath(tracker) };
}

export const trackerArtifactName = (prefix: string) => `${prefix}-tracker`;

/**
 * The newest tracker: from the cache, else (the cache was evicted) from the newest tracker artifact of an
 * earlier run, else none (a first run: everything is serialized).
 */
export async function restoreTracker(files: TrackerFiles, prefix: string, services: Services): Promise<Restored> {
  const key = await services.cache.restore([files.tracker, files.ledger], prefix);
  if (key !== undefined) {
    core.info(`Restored the tracker from the cache entry ${key}.`);
    return { from: 'cache', key };
  }
  const name = trackerArtifactName(prefix);
  const artifact = await services.artifacts.findNewest(name);
  if (artifact !== undefined) {
    await services.artifacts.download(artifact, files.syncDir);
    if (!(await pathExists(files.tracker))) {
      throw new Error(
        `artifact ${name} (id ${artifact.id}, run ${artifact.runId}) holds no ${files.tracker.slice(files.syncDir.length + 1)}`,
      );
    }
    core.warning(`No cache entry starts with ${prefix}-; rebuilt the tracker from artifact ${name} of run ${artifact.runId}.`);
    return { from: 'artifact', name, artifactId: artifact.id, runId: artifact.runId };
  }
  core.warning(`No cache entry starts with ${prefix}- and no artifact ${name} exists: a first run, everything is serialized.`);
  return { from: 'nothing' };
}

/** Saves the advanced tracker under a new immutable key, warning when another run saved one meanwhile. */
export async function saveTracker(files: TrackerFiles, prefix: string, key: string, restored: Restored, services: Services): Promise<void> {
  const paths = [files.tracker, files.ledger];
  const newest = await services.cache.newestKey(paths, prefix);
  const restoredKey = restored.from === 'cache' ? restored.key : undefined;
  if (newest !== undefined && newest !== restoredKey) {
    core.warning(
      `Another run saved the tracker as ${newest} after this run restored ${restoredKey ?? 'none'}: two runs shared the ` +
        `prefix ${prefix}. This run's tracker (${key}) becomes the newest; give such runs one concurrency group.`,
    );
  }
  await services.cache.save(paths, key);
  core.info(`Saved the tracker as cache entry ${key}.`);
}
