import { createReadStream } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { FileHasher } from '../core/archive/file-hasher.ts';
import { checkSidecarFor, legacySidecarPath, locateSidecar, readSidecar, sidecarPath } from '../core/archive/sidecar.ts';
import { pathExists, syncDirectory } from '../core/sync-dir/files.ts';
import { listSyncDir, missingNumbers, type SyncTar } from '../core/sync-dir/listing.ts';
import { formatNumber, parsePartName, parseSyncName } from '../core/sync-dir/sync-name.ts';
import { readTracker } from '../core/sync-dir/tracker.ts';
import { ArtifactZipError, extractArtifactZip } from './artifact-zip.ts';
import { described, fromForkRun, refOf, type ArtifactRef } from './artifact-ref.ts';
import { collectTracker, type CollectedTracker } from './collect-tracker.ts';
import { ArtifactExpiredError, GitHubApiError, type RestArtifact } from './artifacts-api.ts';

/**
 * `batch-serialize collect`: the step after the nightly, on a machine with a token. Every tar the Action uploaded
 * as a workflow artifact `PREFIX-NNNNNN-NAME.tar[.gz|.zst]` (the tar and its `.sha256`), from any run, that the
 * local sync directory does not hold yet is downloaded, checked against its sidecar and only then put in place
 * (temp file, fsync, a rename that never replaces a file), so the directory is ready to carry across the air gap.
 */
export interface CollectOptions {
  dir: string;
  /** The Action's cache-key-prefix: artifacts are `PREFIX-NNNNNN-NAME.tar[.gz|.zst]`, `PREFIX-tracker`. */
  prefix: string;
  /** `OWNER/NAME`, for messages. */
  repository: string;
  /** The Action's tracker-filename: what its tracker artifact `PREFIX-tracker` holds. */
  trackerFilename: string;
}

/** Where the artifacts come from: GitHub's REST API (artifacts-api.ts), or a stand-in. */
export interface ArtifactSource {
  /** For messages. */
  readonly host: string;
  listAll(): Promise<RestArtifact[]>;
  /** Whose tracker artifacts are believed. */
  defaultBranch(): Promise<string>;
  /** Downloads the artifact's zip into `path` (a new file); its size. */
  downloadZip(artifact: { id: number; name: string }, path: string, progress?: (bytes: number) => void): Promise<number>;
}

export interface CollectedTar {
  syncName: string;
  artifact: ArtifactRef;
  bytes: number;
  /** `sha256:<hex>`: what its sidecar says and the file hashes to. */
  sha256: string;
}

export interface CollectProblem {
  syncName: string | undefined;
  artifact: ArtifactRef | undefined;
  message: string;
}

export interface CollectResult {
  /** No problem: every tar of the prefix is here and checked. */
  ok: boolean;
  repository: string;
  prefix: string;
  dir: string;
  /** Downloaded and checked by this run, in number order. */
  collected: CollectedTar[];
  /** Already here, matching their sidecars: nothing downloaded. */
  present: string[];
  problems: CollectProblem[];
  notes: string[];
  /** The newest trusted tracker artifact, when there is one and it could be read. */
  tracker: CollectedTracker | undefined;
}

export interface CollectHooks {
  listed?(artifacts: number, tars: number): void;
  /** 0 as the download starts, then the bytes so far. */
  downloading?(syncName: string, artifact: ArtifactRef, bytes: number): void;
  collected?(tar: CollectedTar): void;
  problem?(problem: CollectProblem): void;
}

/**
 * The artifacts of one file of a tar: the same name uploaded by several runs (newest first). The file is the tar, or
 * one of its parts (`max-file-size`: an artifact per part, each with the tar's sidecar).
 */
export interface TarArtifacts {
  syncName: string;
  /** The tar's name, or its part's (`NNNNNN-NAME.tar.part-001`). */
  fileName: string;
  number: number;
  artifacts: RestArtifact[];
}

export interface Selection {
  /** In number order. */
  tars: TarArtifacts[];
  /** Tar artifacts of the prefix that are not taken, and why. */
  notes: string[];
  /** Numbers that two sync names share among the artifacts: their order is unknowable. */
  clashes: Array<{ number: number; syncNames: string[] }>;
  /** `PREFIX-tracker` artifacts: the Action's tracker backups, not tars. */
  trackers: number;
}

/** One line per file: a tar in parts lists each part. */
const SIDECAR_MAX_BYTES = 1024 * 1024;
/** The work folder of one download, inside the sync directory (same file system, so the final step is a rename). */
const WORK_PREFIX = '.collect-';

/**
 * Which artifacts are tars of `prefix`: `PREFIX-NNNNNN-NAME.tar[.gz|.zst]` uploaded by a run of the repository
 * itself. A run for a pull request from a fork can name its artifacts as it likes: those are never taken.
 */
export function selectArtifacts(artifacts: readonly RestArtifact[], prefix: string): Selection {
  const start = `${prefix}-`;
  const bySyncName = new Map<string, TarArtifacts>();
  const notes: string[] = [];
  let trackers = 0;
  for (const artifact of artifacts) {
    if (!artifact.name.startsWith(start)) continue;
    const rest = artifact.name.slice(start.length);
    if (rest === 'tracker') {
      trackers++;
      continue;
    }
    const syncName = parsePartName(rest)?.syncName ?? rest;
    const parsed = parseSyncName(syncName);
    if (parsed === undefined) continue;
    const run = artifact.workflowRun;
    if (run === undefined) {
      notes.push(`${described(artifact)}: GitHub names no workflow run for it, so where it came from is unknown: ignored`);
      continue;
    }
    if (fromForkRun(run)) {
      notes.push(`${described(artifact)}: uploaded by run ${run.id}, for a pull request from another repository (a fork): ignored`);
      continue;
    }
    const tar = bySyncName.get(rest) ?? { syncName, fileName: rest, number: parsed.number, artifacts: [] };
    tar.artifacts.push(artifact);
    bySyncName.set(rest, tar);
  }
  // Parts in part order (their names sort so below part 1000, and compare by index beyond).
  const index = (tar: TarArtifacts) => parsePartName(tar.fileName)?.index ?? 0;
  const tars = [...bySyncName.values()].sort(
    (a, b) => a.number - b.number || (a.syncName < b.syncName ? -1 : a.syncName > b.syncName ? 1 : index(a) - index(b)),
  );
  for (const tar of tars) tar.artifacts.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id - a.id);
  const byNumber = new Map<number, string[]>();
  for (const tar of tars) {
    const names = byNumber.get(tar.number) ?? [];
    if (!names.includes(tar.syncName)) byNumber.set(tar.number, [...names, tar.syncName]);
  }
  const clashes = [...byNumber].filter(([, names]) => names.length > 1).map(([number, syncNames]) => ({ number, syncNames }));
  return { tars, notes, clashes, trackers };
}

export async function collect(options: CollectOptions, source: ArtifactSource, hooks: CollectHooks = {}): Promise<CollectResult> {
  const { dir, prefix } = options;
  await mkdir(dir, { recursive: true });
  const result: CollectResult = {
    ok: true,
    repository: options.repository,
    prefix,
    dir,
    collected: [],
    present: [],
    problems: [],
    notes: [],
    tracker: undefined,
  };
  const problem = (syncName: string | undefined, artifact: RestArtifact | undefined, message: string) => {
    const found: CollectProblem = { syncName, artifact: artifact && refOf(artifact), message };
    result.problems.push(found);
    hooks.problem?.(found);
  };

  const leftovers = (await readdir(dir)).filter((name) => name.startsWith(WORK_PREFIX));
  for (const name of leftovers) result.notes.push(`${join(dir, name)} is left from an interrupted collect: remove it`);
  const local = await listSyncDir(dir);
  const listed = await source.listAll();
  const selection = selectArtifacts(listed, prefix);
  hooks.listed?.(listed.length, selection.tars.length);
  result.notes.push(...selection.notes);
  if (selection.tars.length === 0) {
    const trackers = selection.trackers > 0 ? `, ${selection.trackers} tracker backup(s) ${prefix}-tracker` : '';
    result.notes.push(
      `no artifact ${prefix}-NNNNNN-NAME.tar[.gz|.zst] in ${options.repository} (${listed.length} artifact(s) listed${trackers})`,
    );
  }
  const clashing = new Set<number>();
  for (const clash of selection.clashes) {
    clashing.add(clash.number);
    const tars = selection.tars.filter((tar) => tar.number === clash.number);
    problem(
      undefined,
      undefined,
      `${tars.map((tar) => `${tar.syncName} (${tar.artifacts.map(described).join(', ')})`).join(' and ')} share number ` +
        `${formatNumber(clash.number)}: their order is unknowable, none of them is collected`,
    );
  }

  for (const tar of selection.tars) {
    if (clashing.has(tar.number)) continue;
    const other = local.tars.filter((here) => here.number === tar.number && here.syncName !== tar.syncName);
    if (other.length > 0) {
      problem(
        tar.syncName,
        tar.artifacts[0],
        `${tar.syncName} is not collected: ${other.map((here) => here.syncName).join(' and ')} here has the same number`,
      );
      continue;
    }
    await collectTar(tar, { dir, source, hooks, result, problem });
  }
  await collectTrackerInto(result, listed, source, options, problem);

  // After the tracker: it tells a tar whose upload stopped half way (never recorded) from one that lost a part.
  const trackerPath = join(dir, options.trackerFilename);
  const recorded = (await pathExists(trackerPath))
    ? await readTracker(trackerPath).then(
        (rows) => new Set(rows.map((row) => row.syncName)),
        () => undefined,
      )
    : undefined;
  for (const syncName of new Set(selection.tars.filter((tar) => tar.fileName !== tar.syncName).map((tar) => tar.syncName))) {
    await checkAllParts({ dir, syncName, tars: selection.tars, recorded, result, problem });
  }

  const numbers = new Set<number>([...local.tars.map((tar: SyncTar) => tar.number), ...selection.tars.map((tar) => tar.number)]);
  const missing = missingNumbers(Math.max(0, ...numbers), numbers);
  if (missing.length > 0) {
    result.notes.push(
      `no tar numbered ${missing.map(formatNumber).join(', ')} here nor among the artifacts of ${prefix}: ` +
        `the far side sees a gap unless it has them already`,
    );
  }
  result.ok = result.problems.length === 0;
  return result;
}

async function collectTrackerInto(
  result: CollectResult,
  listed: readonly RestArtifact[],
  source: ArtifactSource,
  options: CollectOptions,
  problem: (syncName: string | undefined, artifact: RestArtifact | undefined, message: string) => void,
): Promise<void> {
  const work = join(options.dir, `${WORK_PREFIX}${process.pid}-tracker`);
  const context = { dir: options.dir, trackerFilename: options.trackerFilename, artifactName: `${options.prefix}-tracker`, work };
  try {
    const { tracker, note } = await collectTracker(listed, source, context);
    result.tracker = tracker;
    if (note !== undefined) result.notes.push(note);
  } catch (error) {
    problem(
      undefined,
      undefined,
      error instanceof ArtifactZipError ? `the tracker artifact's zip is ${error.message}` : (error as Error).message,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

interface TarContext {
  dir: string;
  source: ArtifactSource;
  hooks: CollectHooks;
  result: CollectResult;
  problem(syncName: string | undefined, artifact: RestArtifact | undefined, message: string): void;
}

/**
 * A tar collected as parts: every part its sidecar lists must be here (a part whose artifact is gone is named). Parts
 * no artifact ever held, of a tar the tracker here does not record, are an upload that stopped half way (the Action
 * records a tar once all its parts are up, and ships it again under a new number): what this run collected of it
 * goes, with a note, so that the far side sees a number never shipped rather than a broken tar.
 */
async function checkAllParts(check: {
  dir: string;
  syncName: string;
  tars: readonly TarArtifacts[];
  /** The sync names the tracker here records; undefined without a tracker. */
  recorded: ReadonlySet<string> | undefined;
  result: CollectResult;
  problem: TarContext['problem'];
}): Promise<void> {
  const { dir, syncName, result } = check;
  const read = await readSidecar(join(dir, syncName));
  if ('state' in read) return; // each part's own check said why
  const missing: string[] = [];
  for (const line of read.lines) {
    if (await pathExists(join(dir, line.name))) continue;
    if (check.tars.some((tar) => tar.fileName === line.name)) continue; // its own problem is reported
    missing.push(line.name);
  }
  if (missing.length === 0) return;
  const names = new Set(read.lines.map((line) => line.name));
  const collectedNow = result.collected.filter((tar) => names.has(tar.syncName));
  const here = read.lines.length - missing.length;
  if (check.recorded !== undefined && !check.recorded.has(syncName) && collectedNow.length === here) {
    for (const tar of collectedNow) await rm(join(dir, tar.syncName));
    await rm(read.path);
    await syncDirectory(dir);
    result.collected = result.collected.filter((tar) => !names.has(tar.syncName));
    result.notes.push(
      `${syncName}: ${here} of the ${read.lines.length} parts its sidecar lists were uploaded, and the tracker does not ` +
        'record it: an upload that stopped half way (the tar was shipped again under a new number); not collected',
    );
    return;
  }
  for (const name of missing) {
    check.problem(syncName, undefined, `${name} is missing: the sidecar lists ${read.lines.length} parts and no artifact holds it`);
  }
}

async function collectTar(tar: TarArtifacts, context: TarContext): Promise<void> {
  const { dir, result, problem } = context;
  const { fileName: syncName } = tar;
  const tarPath = join(dir, syncName);
  /** Where the sidecar is: the tar's, for a part too. */
  const sidecarOf = join(dir, tar.syncName);
  const sidecarHere = await locateSidecar(sidecarOf);
  const tarHere = await pathExists(tarPath);
  const newest = tar.artifacts[0] as RestArtifact;

  if (tarHere && sidecarHere) {
    const check = await checkSidecarFor(sidecarOf, syncName, await hashFile(tarPath));
    if (check.state === 'match') return void result.present.push(syncName);
    const reason = check.state === 'mismatch' ? check.reason : `${sidecarHere} went away`;
    return problem(
      syncName,
      newest,
      `${syncName} is here but does not match its sidecar: ${reason}; left as it is (move both away to collect again)`,
    );
  }
  const artifact = tar.artifacts.find((candidate) => !candidate.expired);
  if (artifact === undefined) {
    if (tarHere) result.notes.push(`${syncName} is here without its sidecar, and ${described(newest)} has expired: it cannot be checked`);
    else problem(syncName, newest, expiredMessage(syncName, newest));
    return;
  }

  const work = join(dir, `${WORK_PREFIX}${process.pid}-${artifact.id}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work);
  try {
    const zipPath = join(work, 'artifact.zip');
    context.hooks.downloading?.(syncName, refOf(artifact), 0);
    await context.source.downloadZip(artifact, zipPath, (bytes) => context.hooks.downloading?.(syncName, refOf(artifact), bytes));
    // Artifacts uploaded before the side directory hold the sidecar beside the tar.
    const files = await extractArtifactZip(
      zipPath,
      new Map([
        [syncName, { maxBytes: Number.MAX_SAFE_INTEGER, required: true }],
        [relative(work, sidecarPath(join(work, tar.syncName))), { maxBytes: SIDECAR_MAX_BYTES, required: false }],
        [basename(legacySidecarPath(join(work, tar.syncName))), { maxBytes: SIDECAR_MAX_BYTES, required: false }],
      ]),
      work,
    );
    await rm(zipPath);
    const fetched = files.get(syncName) as { path: string; bytes: number; sha256: string };
    const fetchedSidecar = await locateSidecar(join(work, tar.syncName));
    const check = await checkSidecarFor(join(work, tar.syncName), syncName, fetched.sha256);
    if (check.state !== 'match') {
      const reason =
        check.state === 'mismatch'
          ? check.reason.replaceAll(`${work}/`, '')
          : check.state === 'joined'
            ? 'its sidecar lists parts'
            : 'no sidecar';
      return problem(
        syncName,
        artifact,
        `${described(artifact)} is refused, its tar does not match its sidecar: ${reason}; nothing was kept`,
      );
    }
    // What is here already must be what the artifact holds: never replaced, a difference is named.
    if (sidecarHere !== undefined && !(await readFile(sidecarHere)).equals(await readFile(fetchedSidecar as string))) {
      return problem(
        syncName,
        artifact,
        `${tar.syncName}.sha256 is here and differs from the one in ${described(artifact)}; left as it is, nothing collected`,
      );
    }
    if (tarHere) {
      const here = await hashFile(tarPath);
      if (here !== fetched.sha256) {
        return problem(
          syncName,
          artifact,
          `${syncName} is here and differs from the tar in ${described(artifact)} (here ${here}, there ${fetched.sha256}); left as it is`,
        );
      }
    }
    // The sidecar first: the tar's arrival is what says the pair is complete.
    if (sidecarHere === undefined) {
      await mkdir(dirname(sidecarPath(sidecarOf)), { recursive: true });
      await renameNoReplace(fetchedSidecar as string, sidecarPath(sidecarOf));
    }
    if (!tarHere) await renameNoReplace(fetched.path, tarPath);
    await syncDirectory(dir);
    if (tarHere) {
      result.notes.push(`${syncName} was here without its sidecar: it matches ${described(artifact)}, whose sidecar is now beside it`);
      result.present.push(syncName);
      return;
    }
    const collected: CollectedTar = { syncName, artifact: refOf(artifact), bytes: fetched.bytes, sha256: fetched.sha256 };
    result.collected.push(collected);
    context.hooks.collected?.(collected);
  } catch (error) {
    if (error instanceof ArtifactExpiredError) return problem(syncName, artifact, expiredMessage(syncName, artifact));
    if (error instanceof GitHubApiError) return problem(syncName, artifact, error.message);
    if (error instanceof ArtifactZipError)
      return problem(syncName, artifact, `${described(artifact)}: its zip is ${error.message}; nothing was kept`);
    return problem(syncName, artifact, `${described(artifact)}: ${(error as Error).message}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function expiredMessage(syncName: string, artifact: RestArtifact): string {
  return (
    `${syncName}: ${described(artifact)} has expired and it is not here: the tar is gone, ` +
    `the far side will see a gap at ${formatNumber(parseSyncName(syncName)?.number ?? 0)}`
  );
}

/** `sha256:<hex>` of a file. */
async function hashFile(path: string): Promise<string> {
  const hasher = new FileHasher();
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hasher.update(chunk as Buffer);
  return hasher.digest();
}

/**
 * The temp file takes its final name, which must not exist: a hard link fails rather than replace (a second collect
 * on the same directory, or a file put there by hand). File systems without hard links (FAT on a USB stick)
 * get a look, then the rename.
 */
async function renameNoReplace(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new Error(`${to} appeared meanwhile (another collect?): left as it is`, { cause: error });
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV'].includes(code ?? '')) throw error;
    if (await pathExists(to)) throw new Error(`${to} appeared meanwhile (another collect?): left as it is`, { cause: error });
    await rename(from, to);
    return;
  }
  await unlink(from);
}
