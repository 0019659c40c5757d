import { resolve } from 'node:path';
import pLimit from 'p-limit';
import { InputError } from '../input-error.ts';
import { isManifest, type Descriptor } from '../oci/descriptor.ts';
import { totalSize, walkGraph, type Graph } from '../oci/graph.ts';
import { parseReference, pinned, type Reference } from '../oci/reference.ts';
import type { Storages } from '../oci/storage.ts';
import { replaceFile } from '../sync-dir/files.ts';
import { entryFor, type LedgerEntry } from '../sync-dir/ledger.ts';
import { shardRecordFileName } from '../sync-dir/plan-files.ts';
import { makeSideDir, sidePath } from '../sync-dir/side-dir.ts';
import { parseSyncName } from '../sync-dir/sync-name.ts';
import { checkDiskSpace, deletingRecordedTars, sizedTar } from './disk-space.ts';
import type { PlannedTar } from './planner.ts';
import type { PlanShard, ShardPlan, ShardTar } from './shard-plan.ts';
import { formatShardRecord, shardRecord, tarsDirectoryOf, type ShardRecord } from './shard-record.ts';
import { withSyncDir, type SyncDirSession } from './sync-dir-session.ts';
import { serializePlan, type SerializeHooks, type WrittenTar } from './write-tars.ts';

export interface ShardRunSettings {
  plan: ShardPlan;
  /** Where the plan was read from: a shard never writes into the directory the plan was made in. */
  planFile: string;
  /** 1-based. */
  shard: number;
  /** The shard's own directory: its tars and sidecars, a tracker and ledger of its tars only, and its record. */
  dir: string;
  concurrency: number;
  /** False: each tar and its sidecar are deleted once recorded (the Action, once uploaded). */
  keepTars: boolean;
}

export interface ShardResult {
  shard: PlanShard;
  /** The tars this run wrote: a run again after a failure writes those not written yet. */
  written: WrittenTar[];
  record: ShardRecord;
  /** `DIR/batch-serialize/shard-FIRST-LAST.json`. */
  recordPath: string;
}

/**
 * Writes one shard of a plan into a directory of its own, with the plan's settings, numbers and root digests (a tag
 * that moved since the plan changes nothing: the planned digest is written, or the shard fails naming it), leaving
 * out the blobs the plan left out. It needs the registry and the plan, not the tracker. Once every tar of the shard
 * is complete (and, through `beforeRecord`, uploaded) it writes its record, which `record` merges; the tracker of the
 * sync directory is not touched. A run again after a failure continues: tars recorded in the shard's directory stay.
 */
export async function serializeShard(settings: ShardRunSettings, storages: Storages, hooks: SerializeHooks = {}): Promise<ShardResult> {
  const { plan } = settings;
  const shard = plan.shards[settings.shard - 1];
  if (shard === undefined) {
    throw new InputError(`shard ${settings.shard}: plan ${plan.id} (${settings.planFile}) has shards 1 to ${plan.shards.length}`);
  }
  if (resolve(settings.dir) === resolve(tarsDirectoryOf(settings.planFile))) {
    throw new InputError(
      `${settings.dir} is the sync directory plan ${plan.id} was made in: give each shard a directory of its own ` +
        '(record moves its tars into the sync directory)',
    );
  }
  const { compression, compressionLevel, manifestJson, dedupScope, trackerFilename, maxFileSize } = plan.settings;
  const options = { syncDir: settings.dir, trackerFilename, command: `serialize --shard ${shard.shard}`, readOnly: false };
  return withSyncDir(options, hooks, async (session) => {
    const done = tarsDoneBefore(session, shard, plan);
    const limit = pLimit(settings.concurrency);
    const context = `shard ${shard.shard} of plan ${plan.id}`;
    const tars = await Promise.all(
      shard.tars.filter((tar) => !done.has(tar.syncName)).map((tar) => limit(() => plannedTar(tar, storages, context))),
    );
    await checkDiskSpace({ dir: settings.dir, tars: tars.map(sizedTar), compression, oneAtATime: !settings.keepTars });
    session.writing();
    const writing = {
      syncDir: settings.dir,
      trackerPath: session.trackerPath,
      ledgerPath: session.ledgerPath,
      compression,
      compressionLevel: compressionLevel ?? undefined,
      dedupScope,
      manifestJson,
      concurrency: settings.concurrency,
      maxFileSize: maxFileSize ?? undefined,
    };
    const written = await serializePlan(tars, session.state, writing, storages, settings.keepTars ? hooks : deletingRecordedTars(hooks));
    const entries = shard.tars.map(
      (tar) => entryFor(session.state.ledger, { syncName: tar.syncName, digest: tar.root.digest }) as LedgerEntry,
    );
    const record = shardRecord(plan, shard, entries);
    await makeSideDir(settings.dir);
    const recordPath = sidePath(settings.dir, shardRecordFileName(shard));
    await replaceFile(recordPath, formatShardRecord(record));
    return { shard, written, record, recordPath };
  });
}

/** The shard's tars its directory records already (an earlier run of it); a tracker recording anything else is refused. */
function tarsDoneBefore(session: SyncDirSession, shard: PlanShard, plan: ShardPlan): Set<string> {
  const ours = new Map(shard.tars.map((tar) => [tar.syncName, tar.root.digest]));
  for (const row of session.state.tracker) {
    if (ours.get(row.syncName) !== row.digest) {
      throw new InputError(
        `${session.trackerPath} records ${row.syncName}, which is not a tar of shard ${shard.shard} of plan ${plan.id}: ` +
          'give each shard a directory of its own (not a sync directory that records other tars)',
      );
    }
  }
  return new Set(session.state.tracker.map((row) => row.syncName));
}

/** The planned tar again, from its root digest: its graph walked in the registry, the plan's blobs left out. */
async function plannedTar(tar: ShardTar, storages: Storages, context: string): Promise<PlannedTar> {
  const where = `${context}: ${tar.syncName} (${tar.artifact}@${tar.root.digest})`;
  let reference: Reference;
  let graph: Graph;
  try {
    reference = pinned(parseReference(tar.artifact), tar.root.digest);
    graph = await walkGraph(storages.open(reference), tar.root);
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`);
  }
  const leaveOut = new Set(tar.deduplicated);
  const blobs: Descriptor[] = [];
  const deduplicated: Descriptor[] = [];
  for (const { descriptor } of graph.nodes) {
    (!isManifest(descriptor.mediaType) && leaveOut.has(descriptor.digest) ? deduplicated : blobs).push(descriptor);
  }
  if (deduplicated.length !== leaveOut.size || totalSize(blobs) !== tar.contentBytes) {
    throw new Error(
      `${where}: the plan says ${tar.contentBytes} content bytes, ${leaveOut.size} blob(s) left out; the graph gives ` +
        `${totalSize(blobs)} bytes, ${deduplicated.length} left out: the plan does not describe this artifact`,
    );
  }
  const previous =
    tar.previous === null ? undefined : { ...tar.previous, ...(parseSyncName(tar.previous.syncName) as { number: number; name: string }) };
  return {
    entry: { name: tar.name, artifact: tar.artifact, reference, where: context },
    number: tar.number,
    syncName: tar.syncName,
    root: tar.root,
    graph,
    blobs,
    deduplicated,
    contentBytes: tar.contentBytes,
    deduplicatedBytes: tar.deduplicatedBytes,
    previous,
  };
}
