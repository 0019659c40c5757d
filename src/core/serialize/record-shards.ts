import { copyFile, lstat, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { checkSidecar, locateSidecar, writeSidecar, type SidecarLine } from '../archive/sidecar.ts';
import { checkPartFiles } from '../archive/tar-scan.ts';
import { crashPoint } from '../crash-point.ts';
import { InputError } from '../input-error.ts';
import { pathExists, syncDirectory } from '../sync-dir/files.ts';
import { entryFor, writeLedger, type LedgerEntry } from '../sync-dir/ledger.ts';
import { formatRange } from '../sync-dir/plan-files.ts';
import { sidePath } from '../sync-dir/side-dir.ts';
import { parseSyncName, partialName, partName } from '../sync-dir/sync-name.ts';
import { writeTracker } from '../sync-dir/tracker.ts';
import { trackerDigest, type PlanShard, type ShardPlan } from './shard-plan.ts';
import { confirmedShard, formatShardRecord, tarsDirectoryOf, type ShardRecord } from './shard-record.ts';
import { withSyncDir, type SyncDirSession } from './sync-dir-session.ts';
import type { SerializeHooks } from './write-tars.ts';

export interface RecordShardsSettings {
  syncDir: string;
  plan: ShardPlan;
  /** The records the shards wrote, each with the file it was read from (messages name it). */
  records: ReadonlyArray<{ file: string; record: ShardRecord }>;
  /**
   * The CLI: each shard's tars are in the directory of its record, and move into the sync directory (checked against
   * the record: size and sidecar). The Action: they are uploaded artifacts already, nothing moves.
   */
  moveTars: boolean;
}

export interface ShardOutcome {
  shard: PlanShard;
  /** `unconfirmed`: no record came (the shard failed or never ran): its numbers stay unused. */
  state: 'recorded' | 'recorded before' | 'unconfirmed';
}

export interface RecordShardsResult {
  /** The ledger entries of the tars recorded now, in number order. */
  recorded: LedgerEntry[];
  shards: ShardOutcome[];
}

/**
 * The last step of a sharded run: merges what the shards confirmed into the tracker the plan was made from, in number
 * order, ledger first and tracker last, each replaced once. A tracker that changed since the plan (another run
 * recorded tars) is never merged over: the run stops with nothing recorded. Running it again with more records
 * records those too. A shard without a record leaves its numbers unused, said in a warning.
 */
export async function recordShards(settings: RecordShardsSettings, hooks: SerializeHooks = {}): Promise<RecordShardsResult> {
  const { plan } = settings;
  const options = { syncDir: settings.syncDir, trackerFilename: plan.settings.trackerFilename, command: 'record', readOnly: false };
  return withSyncDir(options, hooks, async (session) => {
    const before = recordedBefore(session, plan);
    const confirmed = new Map<number, { file: string; record: ShardRecord }>();
    for (const { file, record } of settings.records) {
      const { shard } = confirmedShard(plan, record, file);
      const earlier = confirmed.get(shard);
      if (earlier !== undefined && formatShardRecord(earlier.record) !== formatShardRecord(record)) {
        throw new InputError(`${file} and ${earlier.file} both record shard ${shard} of plan ${plan.id}, and differ`);
      }
      confirmed.set(shard, { file, record });
    }
    const toRecord = [...confirmed.values()]
      .flatMap(({ file, record }) => record.tars.filter((entry) => !before.has(entry.syncName)).map((entry) => ({ file, entry })))
      .sort((a, b) => numberOf(a.entry) - numberOf(b.entry));
    if (settings.moveTars) {
      const moves = [];
      for (const { file, entry } of toRecord) moves.push(await checkedMove(file, settings.syncDir, entry));
      if (moves.some((move) => move !== undefined)) session.writing();
      for (const move of moves) await move?.();
    }
    if (toRecord.length > 0) {
      session.writing();
      await merge(
        session,
        plan,
        toRecord.map(({ entry }) => entry),
      );
    }
    const shards = plan.shards.map((shard): ShardOutcome => {
      if (shard.tars.every((tar) => before.has(tar.syncName))) return { shard, state: 'recorded before' };
      return { shard, state: confirmed.has(shard.shard) ? 'recorded' : 'unconfirmed' };
    });
    for (const { shard } of shards.filter((outcome) => outcome.state === 'unconfirmed')) {
      hooks.warning?.(
        `shard ${shard.shard} of plan ${plan.id} (${formatRange(shard)}: ${shard.tars.map((tar) => tar.name).join(', ')}) confirmed ` +
          'nothing: its numbers stay unused (the far side sees a gap there) and the next run ships its names again',
      );
    }
    return { recorded: toRecord.map(({ entry }) => entry), shards };
  });
}

const numberOf = (entry: LedgerEntry) => parseSyncName(entry.syncName)?.number ?? 0;

/**
 * The plan's tars the tracker records already (a record run before); throws when the tracker is not the plan's:
 * its first rows must be exactly the ones the plan saw, and any row after them one of the plan's tars.
 */
function recordedBefore(session: SyncDirSession, plan: ShardPlan): Set<string> {
  const rows = session.state.tracker;
  const planned = new Map(plan.shards.flatMap((shard) => shard.tars.map((tar) => [tar.syncName, tar])));
  const after = rows.slice(plan.base.rows);
  const same =
    rows.length >= plan.base.rows &&
    trackerDigest(rows.slice(0, plan.base.rows)) === plan.base.sha256 &&
    after.every((row) => planned.get(row.syncName)?.root.digest === row.digest);
  if (!same) {
    throw new Error(
      `${session.trackerPath} is not the tracker plan ${plan.id} was made from (${plan.base.rows} row(s), ${plan.base.sha256}): ` +
        `it records ${rows.length} row(s), the newest ${rows.at(-1)?.syncName ?? 'none'}; another run changed it since. ` +
        `Nothing was recorded: the shards' tars stay unrecorded and the next run ships their names again, numbered ` +
        `above ${plan.last}.`,
    );
  }
  return new Set(after.map((row) => row.syncName));
}

/**
 * Checks a shard's tar before anything moves: in the sync directory already (a record run again) it must be the tar
 * the record describes; else it must be in the record's directory, that size, its sidecar naming that sha256. Returns
 * the move to make, or undefined when the tar is in place. A tar in parts: see checkedPartsMove.
 */
async function checkedMove(recordFile: string, syncDir: string, entry: LedgerEntry): Promise<(() => Promise<void>) | undefined> {
  const tar = entry.tar as { sha256: string; bytes: number; parts?: number };
  if (tar.parts !== undefined) return checkedPartsMove(recordFile, syncDir, entry.syncName, { ...tar, parts: tar.parts });
  const target = join(syncDir, entry.syncName);
  if (await pathExists(target)) {
    const problem = await tarProblem(target, tar);
    if (problem !== undefined) throw new InputError(`${target} is in the way of the tar ${recordFile} records: ${problem}`);
    return undefined;
  }
  const source = join(tarsDirectoryOf(recordFile), entry.syncName);
  const problem = await tarProblem(source, tar);
  if (problem !== undefined) throw new InputError(`${source}, a tar ${recordFile} records: ${problem}`);
  return () => moveFiles(source, syncDir, tar.sha256, [entry.syncName]);
}

async function tarProblem(path: string, tar: { sha256: string; bytes: number }): Promise<string | undefined> {
  const stats = await lstat(path).catch(() => undefined);
  if (stats === undefined) return 'not there';
  if (!stats.isFile()) return 'not a regular file';
  if (stats.size !== tar.bytes) return `${stats.size} bytes, not the ${tar.bytes} the shard wrote`;
  const sidecar = await checkSidecar(path, tar.sha256);
  if (sidecar.state === 'missing') return 'no sidecar (.sha256) beside it';
  return sidecar.state === 'mismatch' ? sidecar.reason : undefined;
}

/**
 * A tar in parts (`--max-file-size`): its sidecar names each part's sha256, not the record's, so the parts are read:
 * each must hash to its line and all of them joined to the record's size and sha256. Each part is taken where it is,
 * in the sync directory or the record's (a record stopped between two renames left the first ones here, the
 * sidecar here before them); the sidecar here, else the shard's, is the one read.
 */
async function checkedPartsMove(
  recordFile: string,
  syncDir: string,
  syncName: string,
  tar: { sha256: string; bytes: number; parts: number },
): Promise<(() => Promise<void>) | undefined> {
  const sourceDir = tarsDirectoryOf(recordFile);
  const whole = join(syncDir, syncName);
  if (await pathExists(whole)) throw new InputError(`${whole} is in the way of the parts of the tar ${recordFile} records`);
  const names = Array.from({ length: tar.parts }, (_, index) => partName(syncName, index + 1));
  const here = await Promise.all(names.map((name) => pathExists(join(syncDir, name))));
  const paths = names.map((name, index) => join(here[index] ? syncDir : sourceDir, name));
  const sidecarDir = (await locateSidecar(whole)) === undefined ? sourceDir : syncDir;
  const check = await checkPartFiles(join(sidecarDir, syncName), paths);
  const problems = [...check.problems];
  if ('file' in check && (check.file.bytes !== tar.bytes || check.file.sha256 !== tar.sha256)) {
    problems.push(
      `its parts join to ${check.file.bytes} bytes, ${check.file.sha256}, not the ${tar.bytes} bytes, ${tar.sha256} the shard wrote`,
    );
  }
  if (problems.length > 0 || !('lines' in check)) {
    throw new InputError(`${join(sourceDir, syncName)} (${tar.parts} parts), a tar ${recordFile} records: ${problems.join('; ')}`);
  }
  if (here.every(Boolean)) return undefined;
  return () =>
    moveFiles(
      join(sourceDir, syncName),
      syncDir,
      check.lines,
      names.filter((_, index) => !here[index]),
    );
}

/**
 * Sidecar first, then the tar's files in order (each renamed, or copied and fsynced across file systems), as a tar
 * is written: a record stopped between two renames leaves the first parts here, the rest in the shard's directory.
 */
async function moveFiles(
  source: string,
  syncDir: string,
  sidecar: string | readonly SidecarLine[],
  files: readonly string[],
): Promise<void> {
  const sourceDir = dirname(source);
  const sourceSidecar = await locateSidecar(source);
  await writeSidecar(join(syncDir, basename(source)), sidecar);
  for (const name of files) {
    await moveFile(join(sourceDir, name), join(syncDir, name), syncDir);
    if (files.length > 1) crashPoint('part-renamed');
  }
  if (sourceSidecar !== undefined) await rm(sourceSidecar, { force: true });
  await syncDirectory(syncDir);
}

async function moveFile(source: string, target: string, syncDir: string): Promise<void> {
  try {
    await rename(source, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    const partial = sidePath(syncDir, partialName(basename(target)));
    await copyFile(source, partial);
    const handle = await open(partial, 'r+');
    await handle.sync().finally(() => handle.close());
    await rename(partial, target);
    await rm(source);
  }
}

/** Ledger, then tracker: the plan's learned entries, then each recorded tar's, its row among the plan's in number order. */
async function merge(session: SyncDirSession, plan: ShardPlan, entries: readonly LedgerEntry[]): Promise<void> {
  const { ledger, tracker } = session.state;
  for (const learned of plan.learned) if (!entryFor(ledger, learned)) ledger.push(learned);
  const names = new Set(entries.map((entry) => entry.syncName));
  // A record that stopped between the ledger and the tracker left entries of these tars: they go.
  for (let i = ledger.length - 1; i >= 0; i--) if (names.has(ledger[i]?.syncName as string)) ledger.splice(i, 1);
  ledger.push(...entries);
  await writeLedger(session.ledgerPath, ledger);
  for (const entry of entries) {
    const parsed = parseSyncName(entry.syncName) as { number: number; name: string };
    tracker.push({ syncName: entry.syncName, ...parsed, artifact: entry.artifact, digest: entry.digest });
  }
  // The plan's rows in number order, also after a record run before: ace-dt numbers from the last row.
  const planned = tracker.splice(plan.base.rows).sort((a, b) => a.number - b.number);
  await writeTracker(session.trackerPath, [...tracker, ...planned]);
}
