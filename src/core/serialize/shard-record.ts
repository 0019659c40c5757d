import { basename, dirname } from 'node:path';
import { InputError } from '../input-error.ts';
import { readRequired } from '../sync-dir/files.ts';
import { firstWrongField, type LedgerEntry } from '../sync-dir/ledger.ts';
import { SIDE_DIR } from '../sync-dir/side-dir.ts';
import type { PlanShard, ShardPlan } from './shard-plan.ts';

/**
 * What a shard confirms (docs/formats.md, "Shard record"): the ledger entry of each tar it wrote, written once all of
 * them are complete (and, in the Action, uploaded). A tracker row is an entry's syncName, artifact and digest. A
 * shard that failed writes none: `record` leaves its numbers unused.
 */
export interface ShardRecord {
  kind: typeof RECORD_KIND;
  version: 1;
  /** The plan's id, `FIRST-LAST`. */
  plan: string;
  shard: number;
  first: number;
  last: number;
  /** One per tar of the shard, in number order, each with its `tar` facts. */
  tars: LedgerEntry[];
}

const RECORD_KIND = 'batch-serialize shard record';

export function shardRecord(plan: ShardPlan, shard: PlanShard, tars: LedgerEntry[]): ShardRecord {
  return { kind: RECORD_KIND, version: 1, plan: plan.id, shard: shard.shard, first: shard.first, last: shard.last, tars };
}

export function formatShardRecord(record: ShardRecord): string {
  return `${JSON.stringify(record)}\n`;
}

export async function readShardRecord(path: string): Promise<ShardRecord> {
  const text = await readRequired(path, 'shard record');
  const fail = (why: string): never => {
    throw new InputError(`${path}: not a usable ${RECORD_KIND}: ${why}`);
  };
  let record: ShardRecord;
  try {
    record = JSON.parse(text) as ShardRecord;
  } catch (error) {
    return fail(`not JSON: ${(error as Error).message}`);
  }
  if (record === null || typeof record !== 'object' || record.kind !== RECORD_KIND)
    return fail(`"kind" is not ${JSON.stringify(RECORD_KIND)}`);
  if (record.version !== 1) return fail(`version ${JSON.stringify(record.version)} (version 1 is read)`);
  if (!Array.isArray(record.tars)) return fail('tars is not a list');
  for (const [i, entry] of record.tars.entries()) {
    const wrong = firstWrongField(entry) ?? (entry.tar === null ? 'tar is null' : undefined);
    if (wrong !== undefined) fail(`tars[${i}]: ${wrong}`);
  }
  return record;
}

/**
 * The plan's shard a record confirms, once each of its tars is the one the plan numbered (same name, artifact and
 * root digest), all of them there: a record of another plan, or one that differs, is refused naming the file.
 */
export function confirmedShard(plan: ShardPlan, record: ShardRecord, file: string): PlanShard {
  const fail = (why: string): never => {
    throw new InputError(`${file}: shard record of ${why}`);
  };
  if (record.plan !== plan.id) fail(`plan ${record.plan}, not of plan ${plan.id}`);
  const shard = plan.shards[record.shard - 1] ?? fail(`shard ${record.shard}, which plan ${plan.id} does not have`);
  const planned = shard.tars.map((tar) => `${tar.syncName} ${tar.artifact} ${tar.root.digest}`);
  const confirmed = record.tars.map((entry) => `${entry.syncName} ${entry.artifact} ${entry.digest}`);
  if (planned.join('\n') !== confirmed.join('\n')) {
    fail(
      `shard ${record.shard} of plan ${plan.id}: it confirms ${confirmed.join(', ') || 'nothing'}; the plan numbered ${planned.join(', ')}`,
    );
  }
  return shard;
}

/** Where a shard's tars are: the directory whose side directory holds its record (or beside the record). */
export function tarsDirectoryOf(recordPath: string): string {
  const dir = dirname(recordPath);
  return basename(dir) === SIDE_DIR ? dirname(dir) : dir;
}
