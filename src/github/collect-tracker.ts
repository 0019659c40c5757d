import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { syncDirectory } from '../core/sync-dir/files.ts';
import { ledgerPath, legacyLedgerPath } from '../core/sync-dir/ledger.ts';
import { formatNumber } from '../core/sync-dir/sync-name.ts';
import { nextNumber, readTracker, type TrackerRow } from '../core/sync-dir/tracker.ts';
import { described, fromForkRun, refOf, type ArtifactRef } from './artifact-ref.ts';
import { extractArtifactZip, type WantedFile } from './artifact-zip.ts';
import type { RestArtifact } from './artifacts-api.ts';

/** What became of the newest trusted tracker artifact. */
export interface CollectedTracker {
  artifact: ArtifactRef;
  /** `taken`: put in place (none here, or the one here records less); `same`: here already; `kept`: the one here records more. */
  state: 'taken' | 'same' | 'kept';
  /** Rows of the artifact's tracker, and the highest number it records. */
  rows: number;
  highest: number;
}

export interface TrackerSource {
  defaultBranch(): Promise<string>;
  downloadZip(artifact: { id: number; name: string }, path: string): Promise<number>;
}

export interface TrackerContext {
  dir: string;
  trackerFilename: string;
  /** `PREFIX-tracker`. */
  artifactName: string;
  /** A folder of its own inside `dir` for the download: removed by the caller. */
  work: string;
}

/** Trackers and ledgers are a row per tar: far below these, whatever the mirror. */
const TRACKER_MAX_BYTES = 64 * 1024 * 1024;
const LEDGER_MAX_BYTES = 1024 * 1024 * 1024;

/**
 * Brings the tracker to the far side, so that `verify` there can tell the numbers no tar will ever fill (a failed
 * shard's, a failed run's) from tars that went missing. Only the newest unexpired `PREFIX-tracker` of this repository's
 * default branch is believed, as the Action believes it (another branch keeps its own; a fork names artifacts as it
 * likes). The one here is replaced only by one that continues it (its rows, then more); one that records less is
 * kept, one that disagrees is a problem and left as it is. The ledger comes with it. Throws what is to be reported as
 * a problem; a note (no tracker artifact, or one behind) is returned as such.
 */
export async function collectTracker(
  listed: readonly RestArtifact[],
  source: TrackerSource,
  context: TrackerContext,
): Promise<{ tracker: CollectedTracker | undefined; note: string | undefined }> {
  const branch = await source.defaultBranch();
  const newest = listed
    .filter((artifact) => artifact.name === context.artifactName && !artifact.expired && trusted(artifact, branch))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id - a.id)[0];
  if (newest === undefined) {
    const note =
      `no unexpired tracker artifact ${context.artifactName} from ${branch}: verify on the far side cannot tell numbers ` +
      'that were never shipped from tars that went missing';
    return { tracker: undefined, note };
  }
  const artifact = described(newest);
  const here = join(context.dir, context.trackerFilename);
  const staged = join(context.work, context.trackerFilename);
  await mkdir(context.work, { recursive: true });
  const zip = join(context.work, 'artifact.zip');
  await source.downloadZip(newest, zip);
  const ledgers = [ledgerPath(staged), legacyLedgerPath(staged)].map((path) => relative(context.work, path));
  const files = await extractArtifactZip(
    zip,
    new Map<string, WantedFile>([
      [context.trackerFilename, { maxBytes: TRACKER_MAX_BYTES, required: true }],
      ...ledgers.map((name): [string, WantedFile] => [name, { maxBytes: LEDGER_MAX_BYTES, required: false }]),
    ]),
    context.work,
  );
  await rm(zip);
  const theirs = await readTracker(staged).catch((error: Error) => {
    throw new Error(`${artifact}: ${error.message.replaceAll(`${context.work}/`, '')}; nothing was kept`, { cause: error });
  });
  const ours = await readTracker(here).catch((error: Error) => {
    throw new Error(`${error.message}; the tracker of ${artifact} is not put in its place`, { cause: error });
  });
  const tracker: CollectedTracker = {
    artifact: refOf(newest),
    state: 'taken',
    rows: theirs.length,
    highest: nextNumber(theirs) - 1,
  };
  if (continues(ours, theirs)) {
    if (ours.length === theirs.length) return { tracker: { ...tracker, state: 'same' }, note: undefined };
    const ledger = ledgers.map((name) => files.get(name)?.path).find((path) => path !== undefined);
    // The ledger first: a tracker row without its ledger entry is learned again; the reverse is never read.
    if (ledger !== undefined) {
      await mkdir(dirname(ledgerPath(here)), { recursive: true });
      await rename(ledger, ledgerPath(here));
    }
    await rename(staged, here);
    await syncDirectory(context.dir);
    return { tracker, note: undefined };
  }
  if (continues(theirs, ours)) {
    const note =
      `${here} records tars up to ${formatNumber(nextNumber(ours) - 1)}, the newest tracker ${artifact} only up to ` +
      `${formatNumber(tracker.highest)}: the one here is kept`;
    return { tracker: { ...tracker, state: 'kept' }, note };
  }
  const row = ours.findIndex((row, index) => !sameRow(row, theirs[index]));
  throw new Error(
    `${here} and the tracker of ${artifact} differ at row ${row + 1} (here ${ours[row]?.syncName ?? 'none'}, ` +
      `there ${theirs[row]?.syncName ?? 'none'}): left as it is; move it away to take the artifact's`,
  );
}

/** This repository's own run (never a fork's) on its default branch. */
function trusted(artifact: RestArtifact, defaultBranch: string): boolean {
  const run = artifact.workflowRun;
  return run !== undefined && !fromForkRun(run) && run.headBranch === defaultBranch;
}

/** `longer` holds every row of `shorter`, in order, then perhaps more. */
function continues(shorter: readonly TrackerRow[], longer: readonly TrackerRow[]): boolean {
  return shorter.length <= longer.length && shorter.every((row, index) => sameRow(row, longer[index]));
}

function sameRow(a: TrackerRow, b: TrackerRow | undefined): boolean {
  return b !== undefined && a.syncName === b.syncName && a.artifact === b.artifact && a.digest === b.digest;
}
