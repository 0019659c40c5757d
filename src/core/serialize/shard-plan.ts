import { createHash } from 'node:crypto';
import type { Compression } from '../archive/compression.ts';
import { parseCompression } from '../archive/compression.ts';
import { MIN_FILE_SIZE } from '../setting-values.ts';
import { InputError } from '../input-error.ts';
import { readRequired } from '../sync-dir/files.ts';
import { isDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import type { DedupScope } from '../sync-dir/dedup-scope.ts';
import type { LedgerEntry } from '../sync-dir/ledger.ts';
import { formatRange, type NumberRange } from '../sync-dir/plan-files.ts';
import { parseSyncName, syncName } from '../sync-dir/sync-name.ts';
import { formatTracker, type TrackerRow } from '../sync-dir/tracker.ts';
import { TOOL_VERSION } from '../version.ts';
import type { Plan, PlannedTar } from './planner.ts';

/**
 * A sharded run's plan (docs/formats.md, "Shard plan"): everything a shard needs to write its tars on another machine
 * with nothing but the registry (each tar's number, root digest and the blobs it leaves out), and everything `record`
 * needs to merge what the shards confirm (the tracker it was made from, the ledger entries planning learned).
 */
export interface ShardPlan {
  kind: typeof PLAN_KIND;
  version: 1;
  /** `FIRST-LAST`: the numbers it reserved, never used again. */
  id: string;
  tool: string;
  first: number;
  last: number;
  settings: ShardSettings;
  /** The tracker the plan was made from: `record` merges into that tracker only. */
  base: { rows: number; sha256: string };
  /** Why every tar is in one shard (dedup scope all), or null. */
  oneShard: string | null;
  shards: PlanShard[];
  upToDate: Array<{ name: string; artifact: string; syncName: string }>;
  /** Ledger entries learned from the registry for tracker rows the ledger lacked: `record` adds them. */
  learned: LedgerEntry[];
}

/** The settings every shard writes with: its tars' names and bytes depend on them. */
export interface ShardSettings {
  compression: Compression;
  compressionLevel: number | null;
  manifestJson: boolean;
  dedupScope: DedupScope;
  trackerFilename: string;
  /** `--max-file-size`: a tar over it is written as parts; null (or absent, in plans of older versions): no limit. */
  maxFileSize?: number | null;
}

export interface PlanShard extends NumberRange {
  /** 1-based: the matrix's `shard`, the CLI's `--shard K`. */
  shard: number;
  contentBytes: number;
  tars: ShardTar[];
}

export interface ShardTar {
  number: number;
  syncName: string;
  name: string;
  /** As the batch list wrote it: the tracker row's artifact and the tar's ref.name. */
  artifact: string;
  /** The root as resolved when planning: a shard writes this digest, whatever the tag says by then. */
  root: Descriptor;
  /** The tracker row the far side holds for the name now, null for a new name. */
  previous: { syncName: string; artifact: string; digest: string } | null;
  blobs: number;
  contentBytes: number;
  /** Blobs left out because an earlier tar holds them. */
  deduplicated: string[];
  deduplicatedBytes: number;
}

const PLAN_KIND = 'batch-serialize shard plan';

export interface ShardPlanOptions extends ShardSettings {
  /** At most this many shards: one per tar up to it, tars grouped by bytes beyond it. */
  maxShards: number;
  /** The tracker the plan was made from. */
  base: readonly TrackerRow[];
}

/**
 * Splits a plan into shards and numbers them in one place, from the plan's first number on, each shard's tars
 * contiguous. With dedup scope name a tar depends only on its name's earlier tars, so each tar may go to a shard of
 * its own: one per tar (then the numbers are the one-job run's), or, beyond `maxShards`, groups balanced by content
 * bytes (largest first, into the lightest shard), each group in batch-list order. With scope all a tar may leave out
 * what another name's tar of the same run holds: one shard. Undefined when nothing ships.
 */
export function buildShardPlan(plan: Plan, options: ShardPlanOptions): ShardPlan | undefined {
  const first = plan.tars[0]?.number;
  if (first === undefined) return undefined;
  const oneShard =
    options.dedupScope === 'all'
      ? 'dedup scope all: a tar may leave out blobs that another name of this run ships, so the names are not independent'
      : null;
  const groups = groupTars(plan.tars, oneShard === null ? options.maxShards : 1);
  const shards: PlanShard[] = [];
  let number = first;
  for (const [i, group] of groups.entries()) {
    const tars = group.map((tar) => shardTar(tar, number++, options.compression));
    const contentBytes = tars.reduce((sum, tar) => sum + tar.contentBytes, 0);
    shards.push({ shard: i + 1, first: tars[0]?.number ?? number, last: number - 1, contentBytes, tars });
  }
  const range = { first, last: number - 1 };
  const { maxShards: _max, base, ...settings } = options;
  return {
    kind: PLAN_KIND,
    version: 1,
    id: formatRange(range),
    tool: TOOL_VERSION,
    ...range,
    settings,
    base: { rows: base.length, sha256: trackerDigest(base) },
    oneShard,
    shards,
    upToDate: plan.upToDate.map(({ entry, row }) => ({ name: entry.name, artifact: entry.artifact, syncName: row.syncName })),
    learned: plan.learned,
  };
}

/** What `record` compares the tracker with: the sha256 of the rows as the tracker file writes them. */
export function trackerDigest(rows: readonly TrackerRow[]): string {
  return `sha256:${createHash('sha256').update(formatTracker(rows)).digest('hex')}`;
}

function groupTars(tars: readonly PlannedTar[], maxShards: number): PlannedTar[][] {
  if (tars.length <= maxShards) return tars.map((tar) => [tar]);
  const bins = Array.from({ length: maxShards }, () => ({ bytes: 0, members: [] as number[] }));
  const heaviestFirst = tars
    .map((_, i) => i)
    .sort((a, b) => (tars[b] as PlannedTar).contentBytes - (tars[a] as PlannedTar).contentBytes || a - b);
  for (const i of heaviestFirst) {
    const lightest = bins.reduce((low, bin) => (bin.bytes < low.bytes ? bin : low));
    lightest.members.push(i);
    lightest.bytes += (tars[i] as PlannedTar).contentBytes;
  }
  return bins
    .filter((bin) => bin.members.length > 0)
    .map((bin) => bin.members.sort((a, b) => a - b))
    .sort((a, b) => (a[0] as number) - (b[0] as number))
    .map((members) => members.map((i) => tars[i] as PlannedTar));
}

function shardTar(tar: PlannedTar, number: number, compression: Compression): ShardTar {
  const previous = tar.previous;
  return {
    number,
    syncName: syncName(number, tar.entry.name, compression),
    name: tar.entry.name,
    artifact: tar.entry.artifact,
    root: tar.root,
    previous: previous ? { syncName: previous.syncName, artifact: previous.artifact, digest: previous.digest } : null,
    blobs: tar.blobs.length,
    contentBytes: tar.contentBytes,
    deduplicated: tar.deduplicated.map((descriptor) => descriptor.digest),
    deduplicatedBytes: tar.deduplicatedBytes,
  };
}

/** One line of the fan-out: the Action's matrix entry, the CLI's `plan --json`. */
export interface ShardSummary {
  shard: number;
  /** `FIRST-LAST`. */
  tars: string;
  names: string[];
  contentBytes: number;
}

export function shardSummaries(plan: ShardPlan): ShardSummary[] {
  return plan.shards.map((shard) => ({
    shard: shard.shard,
    tars: formatRange(shard),
    names: shard.tars.map((tar) => tar.name),
    contentBytes: shard.contentBytes,
  }));
}

export function formatShardPlan(plan: ShardPlan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

export async function readShardPlan(path: string): Promise<ShardPlan> {
  return parseShardPlan(await readRequired(path, 'shard plan'), path);
}

/** Reads a plan file, checked enough that a shard never writes a tar the plan did not number: errors name the file. */
export function parseShardPlan(text: string, file: string): ShardPlan {
  const fail = (why: string): never => {
    throw new InputError(`${file}: not a usable ${PLAN_KIND}: ${why}`);
  };
  let plan: ShardPlan;
  try {
    plan = JSON.parse(text) as ShardPlan;
  } catch (error) {
    return fail(`not JSON: ${(error as Error).message}`);
  }
  if (plan === null || typeof plan !== 'object' || plan.kind !== PLAN_KIND) return fail(`"kind" is not ${JSON.stringify(PLAN_KIND)}`);
  if (plan.version !== 1) return fail(`version ${JSON.stringify(plan.version)} (this ${TOOL_VERSION} reads version 1)`);
  const settings = plan.settings ?? fail('no settings');
  try {
    parseCompression(settings.compression);
  } catch (error) {
    fail(`settings.compression: ${(error as Error).message}`);
  }
  if (settings.dedupScope !== 'name' && settings.dedupScope !== 'all') fail('settings.dedupScope is neither name nor all');
  if (typeof settings.trackerFilename !== 'string' || settings.trackerFilename === '') fail('settings.trackerFilename is empty');
  const maxFileSize = settings.maxFileSize ?? null;
  if (maxFileSize !== null && (!Number.isSafeInteger(maxFileSize) || maxFileSize < MIN_FILE_SIZE)) {
    fail(`settings.maxFileSize is neither null nor a whole number of bytes from ${MIN_FILE_SIZE}`);
  }
  if (!isCount(plan.base?.rows) || !isDigestText(plan.base?.sha256)) fail('base is not { rows, sha256 }');
  if (!Array.isArray(plan.shards) || plan.shards.length === 0) fail('no shards');
  let next = plan.first;
  for (const [i, shard] of plan.shards.entries()) {
    const where = `shards[${i}]`;
    if (shard?.shard !== i + 1) fail(`${where}.shard is not ${i + 1}`);
    if (!Array.isArray(shard.tars) || shard.tars.length === 0) fail(`${where} has no tars`);
    if (shard.first !== next || shard.last !== next + shard.tars.length - 1) fail(`${where} is not numbered ${next} on, contiguously`);
    for (const [j, tar] of shard.tars.entries()) {
      const problem = tarProblem(tar, next++, settings.compression);
      if (problem !== undefined) fail(`${where}.tars[${j}]: ${problem}`);
    }
  }
  if (plan.last !== next - 1 || plan.id !== formatRange(plan))
    fail(`id ${JSON.stringify(plan.id)}, first and last do not match the shards`);
  if (!Array.isArray(plan.learned) || !Array.isArray(plan.upToDate)) fail('learned or upToDate is not a list');
  return plan;
}

const isCount = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;
const isDigestText = (value: unknown) => typeof value === 'string' && isDigest(value);

function tarProblem(tar: ShardTar, number: number, compression: Compression): string | undefined {
  if (tar?.number !== number) return `number is not ${number}`;
  const parsed = parseSyncName(String(tar.syncName));
  if (parsed?.number !== number || parsed.name !== tar.name || tar.syncName !== syncName(number, tar.name, compression)) {
    return `syncName ${JSON.stringify(tar.syncName)} is not ${syncName(number, String(tar.name), compression)}`;
  }
  if (typeof tar.artifact !== 'string' || tar.artifact === '') return 'artifact is empty';
  if (!isDigestText(tar.root?.digest) || !isCount(tar.root.size) || typeof tar.root.mediaType !== 'string') {
    return 'root is not { mediaType, digest, size }';
  }
  if (tar.previous !== null && (parseSyncName(String(tar.previous?.syncName)) === undefined || !isDigestText(tar.previous.digest))) {
    return 'previous is neither null nor { syncName, artifact, digest }';
  }
  if (!Array.isArray(tar.deduplicated) || !tar.deduplicated.every(isDigestText)) return 'deduplicated is not a list of digests';
  if (![tar.blobs, tar.contentBytes, tar.deduplicatedBytes].every(isCount))
    return 'blobs, contentBytes or deduplicatedBytes is not a count';
  return undefined;
}
