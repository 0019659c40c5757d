import pLimit, { type LimitFunction } from 'p-limit';
import type { BatchEntry } from './batch-list.ts';
import { descriptorOf, totalSize, walkGraph, type Graph } from '../oci/graph.ts';
import { entryFor, type LedgerBlob, type LedgerEntry } from '../sync-dir/ledger.ts';
import { Annotation, isManifest, type Descriptor } from '../oci/descriptor.ts';
import { parseReference, pinned, referenceSelector } from '../oci/reference.ts';
import type { FetchedManifest, Storages } from '../oci/storage.ts';
import { newestRow, nextNumber, type TrackerRow } from '../sync-dir/tracker.ts';
import type { Compression } from '../archive/compression.ts';
import type { DedupScope } from '../sync-dir/dedup-scope.ts';
import { syncName } from '../sync-dir/sync-name.ts';

export interface PlannedTar {
  entry: BatchEntry;
  number: number;
  syncName: string;
  /** The root as written into index.json: the batch-list reference as its ref.name. */
  root: Descriptor;
  graph: Graph;
  /** Every blob the tar holds, in tar order: all the artifact's manifests and the other blobs not shipped before. */
  blobs: Descriptor[];
  /** Blobs left out because an earlier tar holds them (never a manifest: every tar carries all of them). */
  deduplicated: Descriptor[];
  /** The blobs' bytes: what the tar holds before framing and compression. */
  contentBytes: number;
  deduplicatedBytes: number;
  /** What the far side holds for this name now. */
  previous: TrackerRow | undefined;
}

export interface UpToDate {
  entry: BatchEntry;
  row: TrackerRow;
}

export interface Plan {
  tars: PlannedTar[];
  upToDate: UpToDate[];
  /** Ledger entries learned from the registry for tracker rows the ledger did not describe. */
  learned: LedgerEntry[];
}

export interface PlanInput {
  entries: BatchEntry[];
  tracker: TrackerRow[];
  ledger: LedgerEntry[];
  compression: Compression;
  dedupScope: DedupScope;
  concurrency: number;
  /** Numbers up to this one are taken by tars the tracker does not record: see BatchSettings. */
  highestUsedNumber: number;
}

/** What the planner tells while it works (the CLI prints it), so a slow registry never leaves a terminal silent. */
export interface PlanHooks {
  /** Before the artifacts' references are resolved: how many there are. */
  resolving?(artifacts: number): void;
}

/**
 * Resolves every artifact before anything is written (a bad row fails the run with nothing created),
 * then decides per artifact what its tar must carry.
 */
export async function planBatch(input: PlanInput, storages: Storages, hooks: PlanHooks = {}): Promise<Plan> {
  const limit = pLimit(input.concurrency);
  if (input.entries.length > 0) hooks.resolving?.(input.entries.length);
  // The resolves open as many connections as run at once; the downloads' others open while they go (once per registry).
  const resolvesAtOnce = Math.min(input.concurrency, input.entries.length);
  for (const entry of input.entries) storages.open(entry.reference).preconnect?.(input.concurrency - resolvesAtOnce);
  const previousRows = input.entries.map((entry) => newestRow(input.tracker, entry.name));
  const roots = await resolveAll(input.entries, storages, limit, (i) => previousRows[i] === undefined);

  const plan: Plan = { tars: [], upToDate: [], learned: [] };
  const toShip: Array<{ entry: BatchEntry; resolved: Resolved; previous: TrackerRow | undefined }> = [];
  input.entries.forEach((entry, i) => {
    const resolved = roots[i] as Resolved;
    const root = descriptorOf(resolved);
    const previous = previousRows[i];
    if (previous !== undefined && previous.digest === root.digest) plan.upToDate.push({ entry, row: previous });
    else toShip.push({ entry, resolved, previous });
  });
  if (toShip.length === 0) return plan;

  const graphs = await Promise.all(toShip.map(({ entry, resolved }) => walkEntry(entry, resolved, storages)));
  const known = new KnownBlobs(input, storages, limit);
  let number = Math.max(nextNumber(input.tracker), input.highestUsedNumber + 1);
  for (const [i, { entry, resolved, previous }] of toShip.entries()) {
    const root = descriptorOf(resolved);
    const graph = graphs[i] as Graph;
    const shipped = await known.before(entry.name);
    const blobs: Descriptor[] = [];
    const deduplicated: Descriptor[] = [];
    for (const { descriptor } of graph.nodes) {
      const leaveOut = !isManifest(descriptor.mediaType) && shipped.has(descriptor.digest);
      (leaveOut ? deduplicated : blobs).push(descriptor);
    }
    const name = syncName(number, entry.name, input.compression);
    const tar: PlannedTar = {
      entry,
      number,
      syncName: name,
      root: { ...root, annotations: { ...root.annotations, [Annotation.refName]: entry.artifact } },
      graph,
      blobs,
      deduplicated,
      contentBytes: totalSize(blobs),
      deduplicatedBytes: totalSize(deduplicated),
      previous,
    };
    plan.tars.push(tar);
    known.add(entry.name, graph);
    number++;
  }
  plan.learned = known.learned;
  return plan;
}

/** A root as resolved: its descriptor, with its bytes when they came at once (fetchReference). */
type Resolved = Descriptor | FetchedManifest;

/**
 * Every entry's root. One never shipped (`walkedNext`, by its index) is walked next whatever it resolves to, so a storage that can
 * (a registry) fetches its manifest at once: one GET instead of a HEAD and then a GET. Others are asked with a HEAD,
 * which registries do not count against pull limits and which suffices when nothing changed.
 */
async function resolveAll(
  entries: BatchEntry[],
  storages: Storages,
  limit: LimitFunction,
  walkedNext: (index: number) => boolean,
): Promise<Resolved[]> {
  const resolve = (entry: BatchEntry, index: number): Promise<Resolved> => {
    const storage = storages.open(entry.reference);
    const selector = referenceSelector(entry.reference);
    return storage.fetchReference !== undefined && walkedNext(index) ? storage.fetchReference(selector) : storage.resolve(selector);
  };
  const results = await Promise.allSettled(entries.map((entry, i) => limit(() => resolve(entry, i))));
  const failures = results.flatMap((result, i) =>
    result.status === 'rejected' ? [`${entries[i]?.where}: ${entries[i]?.artifact}: ${(result.reason as Error).message}`] : [],
  );
  if (failures.length > 0) {
    throw new Error(`cannot resolve ${failures.length} of ${entries.length} artifacts; nothing was written:\n  ${failures.join('\n  ')}`);
  }
  return results.map((result) => (result as PromiseFulfilledResult<Resolved>).value);
}

async function walkEntry(entry: BatchEntry, root: Resolved, storages: Storages): Promise<Graph> {
  try {
    return await walkGraph(storages.open(entry.reference), root);
  } catch (error) {
    throw new Error(`${entry.where}: ${entry.artifact}: ${(error as Error).message}`);
  }
}

/** What earlier tars hold, from the ledger, or (for rows it lacks) by walking `repo@digest` in the registry. */
class KnownBlobs {
  readonly learned: LedgerEntry[] = [];
  private readonly input: PlanInput;
  private readonly storages: Storages;
  private readonly limit: LimitFunction;
  /** Blobs of tars planned in this run, by name. */
  private readonly planned = new Map<string, Set<string>>();

  constructor(input: PlanInput, storages: Storages, limit: LimitFunction) {
    this.input = input;
    this.storages = storages;
    this.limit = limit;
  }

  async before(name: string): Promise<Set<string>> {
    const inScope = (rowName: string) => this.input.dedupScope === 'all' || rowName === name;
    const rows = this.input.tracker.filter((row) => inScope(row.name));
    const entries = await Promise.all(rows.map((row) => this.limit(() => this.describe(row))));
    const digests = new Set<string>();
    for (const entry of entries) for (const blob of entry.blobs) digests.add(blob.digest);
    for (const [plannedName, blobs] of this.planned) if (inScope(plannedName)) for (const digest of blobs) digests.add(digest);
    return digests;
  }

  add(name: string, graph: Graph): void {
    const blobs = this.planned.get(name) ?? new Set<string>();
    for (const { descriptor } of graph.nodes) blobs.add(descriptor.digest);
    this.planned.set(name, blobs);
  }

  private async describe(row: TrackerRow): Promise<LedgerEntry> {
    const known = entryFor(this.input.ledger, row) ?? entryFor(this.learned, row);
    if (known) return known;
    try {
      const reference = pinned(parseReference(row.artifact), row.digest);
      const storage = this.storages.open(reference);
      const graph = await walkGraph(storage, await storage.resolve(row.digest));
      const blobs: LedgerBlob[] = graph.nodes.map(({ descriptor: { digest, size, mediaType } }) => ({ digest, size, mediaType }));
      const entry: LedgerEntry = { syncName: row.syncName, artifact: row.artifact, digest: row.digest, tar: null, blobs };
      if (!entryFor(this.learned, row)) this.learned.push(entry);
      return entry;
    } catch (error) {
      throw new Error(
        `tracker row ${row.syncName} (${row.artifact}@${row.digest}): no ledger entry, and its blobs cannot be learned ` +
          `from the registry: ${(error as Error).message}. Restore the ledger, or start a new sync directory.`,
      );
    }
  }
}
