import * as core from '@actions/core';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { InputError } from '../core/input-error.ts';
import { pathExists } from '../core/sync-dir/files.ts';
import { ledgerPath, legacyLedgerPath } from '../core/sync-dir/ledger.ts';
import { formatRange, parseRange, type NumberRange } from '../core/sync-dir/plan-files.ts';
import { formatNumber, parsePartName, parseSyncName } from '../core/sync-dir/sync-name.ts';
import { nextNumber, readTracker } from '../core/sync-dir/tracker.ts';
import { Inputs, Outputs } from './constants.ts';
import type { ActionSettings } from './inputs.ts';
import type { ListedArtifact, Services } from './services.ts';

/** Where this run's tracker came from: the `tracker-source` output, said in the log and, loudly, in the summary. */
export type TrackerSource = 'cache' | 'artifact' | 'none';

export interface Restored {
  source: TrackerSource;
  /** The cache entry restored (also when the tracker artifact turned out newer and was taken instead). */
  cacheKey: string | undefined;
  /** The tracker artifact taken. */
  artifact: ListedArtifact | undefined;
  /** The highest number the tracker records: trackers are compared by it, the newer records more. */
  generation: number;
  /** The highest number of any tar artifact of this prefix from this repository's runs: never used again. */
  highestUsedNumber: number;
  /** A lost tracker, and the run starts over on purpose (input start-over). */
  startedOver: boolean;
}

export interface TrackerFiles {
  syncDir: string;
  tracker: string;
  ledger: string;
  /** Where versions before the side directory kept the ledger, as their cache entries and artifacts hold it. */
  legacyLedger: string;
}

export function trackerFiles(syncDir: string, trackerFilename: string): TrackerFiles {
  const tracker = join(syncDir, trackerFilename);
  return { syncDir, tracker, ledger: ledgerPath(tracker), legacyLedger: legacyLedgerPath(tracker) };
}

/** The names the Action gives what it stores, all under its prefix, so that two batch lists never meet. */
export const ArtifactNames = {
  tar: (prefix: string, syncName: string) => `${prefix}-${syncName}`,
  tracker: (prefix: string) => `${prefix}-tracker`,
  cacheKey: (prefix: string, run: { id: number; attempt: number }) => `${prefix}-${run.id}-${run.attempt}`,
  /** A sharded run's plan, named for the numbers it reserved: listed, expired or not, those are never used again. */
  plan: (prefix: string, plan: NumberRange) => `${prefix}-plan-${formatRange(plan)}`,
  /** What a shard confirms, named for its numbers. */
  shardRecord: (prefix: string, shard: NumberRange) => `${prefix}-shard-${formatRange(shard)}`,
} as const;

/** The numbers a plan artifact's name reserves; undefined for any other name. */
export function plannedRangeOf(prefix: string, name: string): NumberRange | undefined {
  return name.startsWith(`${prefix}-plan-`) ? parseRange(name.slice(prefix.length + 6)) : undefined;
}

/** Which runs' artifacts may be believed: this repository's own (never a fork's), and for the tracker its default branch's. */
export interface Trust {
  repositoryId: number | undefined;
  defaultBranch: string | undefined;
}

export interface RestoreOptions {
  prefix: string;
  trust: Trust;
  startOver: boolean;
  /** This run: what its earlier attempts uploaded is no trace of a lost tracker (their numbers are used all the same). */
  runId: number;
}

/**
 * The newest tracker, decided the same way every run: the newest cache entry of exactly the form this Action saves
 * and the newest trusted tracker artifact are both looked at, and the one recording more tars is taken (a refused
 * cache save leaves the artifact ahead). Neither, with traces of earlier runs in the artifact store, is a lost tracker:
 * the run stops unless told to start over. Tar artifacts of earlier runs, expired or not, give the numbers never to
 * use again.
 */
export async function restoreTracker(files: TrackerFiles, options: RestoreOptions, services: Services): Promise<Restored> {
  const { prefix } = options;
  // What an earlier step or job left on this runner is not this prefix's tracker.
  await Promise.all([files.tracker, files.ledger, files.legacyLedger].map((path) => rm(path, { force: true })));

  // `p4-` also lists `p4-extra-…`: only the names this prefix gives count.
  const trusted = (await services.artifacts.list(`${prefix}-`)).filter((artifact) => fromThisRepository(artifact, options.trust));
  const listed = trusted.filter((artifact) => isOurs(prefix, artifact.name));
  // A plan's numbers too: a shard that failed left them unused, and unused they stay.
  const highestUsedNumber = Math.max(
    0,
    ...listed.flatMap((artifact) => tarNumber(prefix, artifact.name) ?? []),
    ...trusted.flatMap((artifact) => plannedRangeOf(prefix, artifact.name)?.last ?? []),
  );

  const { key: cacheKey, paths } = await newestCacheEntry(files, prefix, services);
  let fromCache = 0;
  if (cacheKey !== undefined && (await services.cache.restore(paths, cacheKey))) {
    if (await pathExists(files.legacyLedger)) await moveLedger(files.legacyLedger, files.ledger);
    fromCache = await generationOf(files.tracker);
  }
  const backup = newestTrackerArtifact(listed, prefix, options.trust);
  const restored: Restored = { source: 'none', cacheKey, artifact: undefined, generation: 0, highestUsedNumber, startedOver: false };
  if (backup !== undefined) {
    const fromArtifact = await takeArtifactIfNewer(files, backup, fromCache, cacheKey !== undefined, services);
    if (fromArtifact !== undefined) return { ...restored, source: 'artifact', artifact: backup, generation: fromArtifact };
  }
  if (cacheKey !== undefined) {
    core.info(`Restored the tracker from the cache entry ${cacheKey}.`);
    return { ...restored, source: 'cache', generation: fromCache };
  }
  // Traces of the default branch's tracker: what its other runs uploaded (another branch keeps its own tracker).
  const traces = listed.filter((artifact) => artifact.run.id !== options.runId && artifact.run.headBranch === options.trust.defaultBranch);
  if (traces.length === 0) {
    core.warning(`No cache entry ${prefix}-RUN-ATTEMPT and no artifact of ${prefix} exists: a first run, everything is serialized.`);
    return restored;
  }
  const lost = lostTrackerMessage(prefix, traces, highestUsedNumber);
  if (!options.startOver) throw new InputError(lost);
  core.warning(`${lost}\nStarting over as asked: everything is serialized again, numbered from ${formatNumber(highestUsedNumber + 1)}.`);
  return { ...restored, startedOver: true };
}

/**
 * Saves the advanced tracker under a new immutable key, warning when another run saved one meanwhile; false when the
 * cache refused it (said loudly: the tracker artifact must then carry the state).
 */
export async function saveTracker(
  files: TrackerFiles,
  prefix: string,
  key: string,
  restored: Restored,
  services: Services,
): Promise<boolean> {
  const newest = await newestCacheKey(trackedPaths(files), prefix, services);
  if (newest !== undefined && newest !== restored.cacheKey) {
    core.warning(
      `Another run saved the tracker as ${newest} after this run restored ${restored.cacheKey ?? 'none'}: two runs shared the ` +
        `prefix ${prefix}. This run's tracker (${key}) becomes the newest; give such runs one concurrency group.`,
    );
  }
  if (!(await services.cache.save(trackedPaths(files), key))) {
    core.warning(
      `The cache refused to save the tracker as ${key} (a rate limit, or an event that may not write the cache): ` +
        `the tracker artifact ${ArtifactNames.tracker(prefix)} must carry this run's state.`,
    );
    return false;
  }
  core.info(`Saved the tracker as cache entry ${key}.`);
  return true;
}

export function trackedPaths(files: TrackerFiles): string[] {
  return [files.tracker, files.ledger];
}

/**
 * The newest cache entry: a cache entry is found only with the paths it was saved with, so entries saved before the
 * side directory (the ledger beside the tracker) are looked up with those paths when no newer one exists.
 */
async function newestCacheEntry(files: TrackerFiles, prefix: string, services: Services): Promise<{ key?: string; paths: string[] }> {
  const paths = trackedPaths(files);
  const key = await newestCacheKey(paths, prefix, services);
  if (key !== undefined) return { key, paths };
  const legacyPaths = [files.tracker, files.legacyLedger];
  return { key: await newestCacheKey(legacyPaths, prefix, services), paths: legacyPaths };
}

async function moveLedger(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to);
}

const CACHE_KEY_TAIL = /^-([1-9][0-9]*)-([1-9][0-9]*)$/;

/**
 * The newest key of the exact form `PREFIX-RUN-ATTEMPT`. A cache lookup matches key prefixes, so `p4-` would also find
 * `p4-extra-…` of another prefix: one lookup per first digit of the run id finds only ours, and the greatest wins.
 */
async function newestCacheKey(paths: string[], prefix: string, services: Services): Promise<string | undefined> {
  const digits = ['1', '2', '3', '4', '5', '6', '7', '8', '9'];
  const found = await Promise.all(digits.map((digit) => services.cache.lookup(paths, `${prefix}-${digit}`)));
  const ours = found.flatMap((key) => {
    const match = key?.startsWith(prefix) ? CACHE_KEY_TAIL.exec(key.slice(prefix.length)) : null;
    return match && key ? [{ key, run: Number(match[1]), attempt: Number(match[2]) }] : [];
  });
  ours.sort((a, b) => a.run - b.run || a.attempt - b.attempt);
  return ours.at(-1)?.key;
}

export function fromThisRepository(artifact: ListedArtifact, trust: Trust): boolean {
  if (trust.repositoryId === undefined) return false;
  const repositoryId = artifact.run.repositoryId ?? trust.repositoryId;
  return repositoryId === trust.repositoryId && artifact.run.headRepositoryId === trust.repositoryId;
}

function isOurs(prefix: string, name: string): boolean {
  return name === ArtifactNames.tracker(prefix) || tarNumber(prefix, name) !== undefined;
}

/** The number of a tar artifact's name, a whole tar's or one part's (`max-file-size`). */
function tarNumber(prefix: string, name: string): number | undefined {
  const rest = name.slice(prefix.length + 1);
  return parseSyncName(parsePartName(rest)?.syncName ?? rest)?.number;
}

function newestTrackerArtifact(listed: readonly ListedArtifact[], prefix: string, trust: Trust): ListedArtifact | undefined {
  const name = ArtifactNames.tracker(prefix);
  const candidates = listed.filter(
    (artifact) => artifact.name === name && !artifact.expired && artifact.run.headBranch === trust.defaultBranch,
  );
  return candidates.sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
}

async function generationOf(trackerPath: string): Promise<number> {
  return nextNumber(await readTracker(trackerPath)) - 1;
}

/** Downloads the tracker artifact beside the sync directory and takes it when it records more than the cache's; its generation then. */
async function takeArtifactIfNewer(
  files: TrackerFiles,
  artifact: ListedArtifact,
  fromCache: number,
  cacheHit: boolean,
  services: Services,
): Promise<number | undefined> {
  const staging = await mkdtemp(join(files.syncDir, '.tracker-artifact-'));
  try {
    await services.artifacts.download(artifact, staging);
    const tracker = join(staging, basename(files.tracker));
    if (!(await pathExists(tracker))) {
      throw new Error(`artifact ${artifact.name} (id ${artifact.id}, run ${artifact.run.id}) holds no ${basename(files.tracker)}`);
    }
    const generation = await generationOf(tracker);
    if (cacheHit && generation <= fromCache) return undefined;
    // Artifacts of versions before the side directory hold the ledger beside the tracker.
    const ledger = join(staging, relative(files.syncDir, files.ledger));
    const legacyLedger = join(staging, basename(files.legacyLedger));
    await rename(tracker, files.tracker);
    if (await pathExists(ledger)) await moveLedger(ledger, files.ledger);
    else if (await pathExists(legacyLedger)) await moveLedger(legacyLedger, files.ledger);
    else await rm(files.ledger, { force: true });
    core.warning(
      cacheHit
        ? `The tracker artifact of run ${artifact.run.id} records tars up to ${formatNumber(generation)}, the cache only up to ` +
            `${formatNumber(fromCache)} (a refused or lost cache save): the artifact is taken.`
        : `No cache entry of this prefix: the tracker was rebuilt from artifact ${artifact.name} of run ${artifact.run.id}.`,
    );
    return generation;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

function lostTrackerMessage(prefix: string, listed: readonly ListedArtifact[], highestUsedNumber: number): string {
  const newest = [...listed].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0] as ListedArtifact;
  return (
    `The tracker of ${prefix} is lost: no cache entry and no unexpired tracker artifact, but earlier runs left ` +
    `${listed.length} artifact(s) (the newest ${newest.name} of run ${newest.run.id}, ${newest.expired ? 'expired' : 'unexpired'}), ` +
    `numbered up to ${formatNumber(highestUsedNumber)}. Serializing now would ship everything again. Restore the tracker ` +
    `(a copy of record-keeping.csv and its ledger as the cache entry or artifact ${ArtifactNames.tracker(prefix)}), or set ` +
    `${Inputs.StartOver}: true to ship everything again, numbered above ${formatNumber(highestUsedNumber)}.`
  );
}

/**
 * The tracker goes to the cache and, as its backup, to the tracker artifact (the longest retention). Either may be
 * refused; both refused is a failure: the next run would not know what this one shipped (its numbers it would still
 * skip, from the tar artifacts). Sets `saved-key`.
 */
export async function keepTracker(
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

/**
 * The sync directory made and the newest tracker restored into it, as every job that reads the tracker starts; the
 * outputs that say where it came from are set.
 */
export async function restoreForJob(
  settings: ActionSettings,
  files: TrackerFiles,
  services: Services,
  startOver = settings.startOver,
): Promise<Restored> {
  await mkdir(files.syncDir, { recursive: true });
  const trust = { repositoryId: settings.run.repositoryId, defaultBranch: settings.run.defaultBranch };
  const restored = await restoreTracker(files, { prefix: settings.cacheKeyPrefix, trust, startOver, runId: settings.run.id }, services);
  core.setOutput(Outputs.TrackerSource, restored.source);
  core.setOutput(Outputs.RestoredKey, restored.source === 'cache' ? (restored.cacheKey ?? '') : '');
  core.setOutput(Outputs.CacheHit, String(restored.source === 'cache'));
  core.setOutput(Outputs.SavedKey, '');
  return restored;
}

/** mode serialize, asked for on another branch: its tracker is saved in that branch's cache scope. */
export function warnOffDefaultBranch(settings: ActionSettings): void {
  const { ref, defaultBranch } = settings.run;
  if (defaultBranch !== undefined && ref === `refs/heads/${defaultBranch}`) return;
  core.warning(
    `Serializing on ${ref || 'an unknown ref'}, not on the default branch ${defaultBranch ?? '(unknown)'}: the cache keeps this ` +
      `run's tracker for ${ref || 'this ref'} only, so the default branch will not see it (its numbers it will skip).`,
  );
}
