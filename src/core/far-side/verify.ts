import { join } from 'node:path';
import type { Compression } from '../archive/compression.ts';
import { findLedger, readLedger, type LedgerEntry } from '../sync-dir/ledger.ts';
import type { DedupScope } from '../sync-dir/dedup-scope.ts';
import type { SyncRecord } from '../sync-dir/successful-syncs.ts';
import { readRecords, requireFileOrNothing } from './record.ts';
import { listSyncDir, missingNumbers, type SyncTar } from '../sync-dir/listing.ts';
import { formatNumber, parseSyncName } from '../sync-dir/sync-name.ts';
import { Annotation, isManifest } from '../oci/descriptor.ts';
import { emptyScan, scanTar, type TarScan } from '../archive/tar-scan.ts';
import { notRegularFile } from '../archive/tar-reader.ts';
import { readTracker, type TrackerRow } from '../sync-dir/tracker.ts';
import { withSyncDirLock } from '../sync-dir/lock.ts';
import { tarScope } from './tar-scope.ts';

export interface VerifyOptions {
  dir: string;
  /**
   * Which earlier tars may hold a blob a tar leaves out, the serializer's `--dedup-scope`: given, it overrides what
   * each tar records (unrecorded: `name`).
   */
  dedupScope?: DedupScope | undefined;
  /** The near side's tracker, when it travelled with the tars: names the tars that are missing. */
  trackerFilename: string;
  /** deserialize's record of loaded tars when it is kept elsewhere (default `DIR/successful-syncs.csv`, read too). */
  recordPath?: string;
}

export interface MissingBlob {
  digest: string;
  size: number;
  mediaType: string;
  /** The tars that should have held it, as far as can be told (`000002-*.tar` when the name is unknown). */
  expectedIn: ExpectedHolder[];
}

export interface ExpectedHolder {
  syncName: string;
  /** `absent`: not here; `damaged`: here but unreadable or failing; `loaded`: absent, recorded as loaded. */
  state: 'absent' | 'damaged' | 'loaded';
}

export interface TarVerdict {
  syncName: string;
  number: number;
  name: string;
  ok: boolean;
  /** The scope the tar was checked with: as asked, else as it records, else `name`. */
  dedupScope: DedupScope;
  compression: Compression | null;
  bytes: number | null;
  sha256: string | null;
  /** `joined`: the sidecar lists parts and the file here is whole (joined with cat): unchecked as a whole. */
  sidecar: 'match' | 'missing' | 'mismatch' | 'joined' | null;
  /** The parts it was read from (`--max-file-size`); 0 for a tar in one file. */
  parts: number;
  root: { digest: string; mediaType: string; refName: string | null } | null;
  manifests: number;
  /** Blobs (manifests included) in the tar, their content checked. */
  blobs: number;
  /** Blobs the graph needs that this tar leaves out and an earlier tar here holds. */
  fromEarlierTars: number;
  /** Blobs left out that tars already loaded at the far side (successful-syncs.csv) should have delivered. */
  fromLoadedTars: MissingBlob[];
  /** Blobs the graph needs that no tar here holds and no loaded tar explains. */
  missing: MissingBlob[];
  problems: string[];
  notes: string[];
}

export interface AbsentTar {
  number: number;
  /** Known from the tracker or successful-syncs.csv, else `NNNNNN-*.tar`. */
  syncName: string;
  /**
   * `loaded`: recorded in successful-syncs.csv; `missing`: lost between tars that are here; `earlier`: before the first
   * tar here; `unused`: a number the tracker skips below its highest (a failed shard's, never shipped).
   */
  state: 'loaded' | 'missing' | 'earlier' | 'unused';
}

export interface VerifyReport {
  dir: string;
  ok: boolean;
  /** As asked; null: each tar's own (TarVerdict.dedupScope). */
  dedupScope: DedupScope | null;
  tars: TarVerdict[];
  absent: AbsentTar[];
  problems: string[];
  notes: string[];
}

export interface VerifyHooks {
  tarChecked?(verdict: TarVerdict): void;
}

/**
 * Checks a sync directory offline: every tar whole (sidecar, tar stream, blobs against their names, index.json,
 * manifests), every artifact's graph complete once the earlier tars are counted, and the numbering without gaps.
 * Holding the directory's lock, as serialize and deserialize do, so as never to read one mid-write (a directory
 * it cannot write, on read-only media, is read without it, with a note).
 */
export async function verifySyncDir(options: VerifyOptions, hooks: VerifyHooks = {}): Promise<VerifyReport> {
  const lockNotes: string[] = [];
  const lock = { command: 'verify', readOnly: true, note: (note: string) => void lockNotes.push(note) };
  const report = await withSyncDirLock(options.dir, lock, () => verifyLocked(options, hooks));
  report.notes.unshift(...lockNotes);
  return report;
}

async function verifyLocked(options: VerifyOptions, hooks: VerifyHooks): Promise<VerifyReport> {
  const listing = await listSyncDir(options.dir);
  const notes: string[] = [];
  const context = await readContext(options, notes);
  const report: VerifyReport = {
    dir: options.dir,
    ok: true,
    dedupScope: options.dedupScope ?? null,
    tars: [],
    absent: absentTars([...listing.tars, ...listing.irregular], context),
    problems: [],
    notes,
  };
  for (const { number, syncNames } of listing.duplicates)
    report.problems.push(`${syncNames.join(' and ')} share number ${formatNumber(number)}: their order is unknowable`);
  for (const partial of listing.partials) report.notes.push(`${partial}: a tar whose writing never finished (not a tar to load)`);
  for (const absent of report.absent) {
    if (absent.state === 'missing') report.problems.push(`${absent.syncName} is missing (the numbering has a gap)`);
    else if (absent.state === 'earlier') report.notes.push(`${absent.syncName} is not here and not recorded as loaded`);
    else if (absent.state === 'unused') {
      report.notes.push(
        `${absent.syncName} was never shipped: the tracker records no tar of that number (a failed shard's), nothing needs it`,
      );
    }
  }
  if (listing.tars.length + listing.irregular.length === 0) report.problems.push(`no tars (NNNNNN-NAME.tar[.gz|.zst]) in ${options.dir}`);

  const chain = new DedupChain();
  // Entries named like tars that are not regular files are never opened: each is a problem of its own, in its place.
  const irregular = new Map(listing.irregular.map((tar) => [tar.syncName, tar.kind]));
  const inOrder = [...listing.tars, ...listing.irregular].sort((a, b) => a.number - b.number || (a.syncName < b.syncName ? -1 : 1));
  for (const tar of inOrder) {
    const kind = irregular.get(tar.syncName);
    const scan = kind === undefined ? await scanTar(tar.path, tar.parts) : unreadScan(tar, kind);
    const verdict = judge(tar, scan, chain, report.absent, context, options.dedupScope);
    chain.add(tar, scan);
    report.tars.push(verdict);
    hooks.tarChecked?.(verdict);
  }
  report.ok = report.problems.length === 0 && report.tars.every((tar) => tar.ok);
  return report;
}

/** The scan of a tar that was not read: nothing held, one problem. */
function unreadScan(tar: SyncTar, kind: string): TarScan {
  return emptyScan(tar.path, [notRegularFile(kind)], tar.parts);
}

interface Context {
  tracker: TrackerRow[];
  ledger: LedgerEntry[];
  loaded: SyncRecord[];
}

/** The tracker, ledger and successful-syncs.csv only help name what is missing: a damaged one is noted and left out. */
async function readContext(options: VerifyOptions, notes: string[]): Promise<Context> {
  const trackerPath = join(options.dir, options.trackerFilename);
  const optional = async <T>(read: () => Promise<T[]>): Promise<T[]> =>
    read().catch((error: unknown) => {
      notes.push(`${(error as Error).message} (ignored)`);
      return [];
    });
  return {
    tracker: await optional(() => requireFileOrNothing(trackerPath, 'the tracker').then(() => readTracker(trackerPath))),
    ledger: await optional(() =>
      findLedger(trackerPath).then((ledger) => requireFileOrNothing(ledger, 'the ledger').then(() => readLedger(ledger))),
    ),
    loaded: await optional(() => readRecords(options)),
  };
}

function absentTars(tars: readonly SyncTar[], context: Context): AbsentTar[] {
  const recorded = [...context.tracker.map((row) => ({ number: row.number, syncName: row.syncName })), ...context.loaded.flatMap(numbered)];
  const present = new Set(tars.map((tar) => tar.number));
  const highest = Math.max(0, ...tars.map((tar) => tar.number), ...recorded.map((r) => r.number));
  const numbers = missingNumbers(highest, present);
  const lowest = Math.min(...present);
  const tracked = new Set(context.tracker.map((row) => row.number));
  const highestTracked = Math.max(0, ...tracked);
  return numbers.map((number) => {
    const syncName = recorded.find((r) => r.number === number)?.syncName ?? `${formatNumber(number)}-*.tar`;
    const loaded = context.loaded.some((record) => record.filename === syncName);
    const unused = number < highestTracked && !tracked.has(number);
    return { number, syncName, state: loaded ? 'loaded' : unused ? 'unused' : number < lowest ? 'earlier' : 'missing' };
  });
}

function numbered(record: SyncRecord): Array<{ number: number; syncName: string }> {
  const parsed = parseSyncName(record.filename);
  return parsed ? [{ number: parsed.number, syncName: record.filename }] : [];
}

/** What the tars read so far hold, by name: what a later tar may leave out. */
class DedupChain {
  /** Earlier tars here that could not be trusted whole: what they should have held may be what is missing. */
  readonly damaged: SyncTar[] = [];
  private readonly byName = new Map<string, Set<string>>();
  /** Any tar's, for the hint when a tar leaves out what only another name's tar holds. */
  private readonly firstHolder = new Map<string, string>();

  holds(name: string, digest: string, scope: DedupScope): boolean {
    if (scope === 'all') return this.firstHolder.has(digest);
    return this.byName.get(name)?.has(digest) ?? false;
  }

  holder(digest: string): string | undefined {
    return this.firstHolder.get(digest);
  }

  add(tar: SyncTar, scan: TarScan): void {
    if (scan.problems.length > 0) this.damaged.push(tar);
    const set = this.byName.get(tar.name) ?? new Set<string>();
    for (const digest of scan.held.keys()) {
      set.add(digest);
      if (!this.firstHolder.has(digest)) this.firstHolder.set(digest, tar.syncName);
    }
    this.byName.set(tar.name, set);
  }
}

function judge(
  tar: SyncTar,
  scan: TarScan,
  chain: DedupChain,
  absent: readonly AbsentTar[],
  context: Context,
  asked: DedupScope | undefined,
): TarVerdict {
  const { scope, note } = tarScope(scan, asked, 'checked');
  const verdict: TarVerdict = {
    syncName: tar.syncName,
    number: tar.number,
    name: tar.name,
    ok: false,
    dedupScope: scope,
    compression: scan.file?.compression ?? null,
    bytes: scan.file?.bytes ?? null,
    sha256: scan.file?.sha256 ?? null,
    sidecar: scan.sidecar?.state ?? null,
    parts: scan.parts.length,
    root: scan.root
      ? { digest: scan.root.digest, mediaType: scan.root.mediaType, refName: scan.root.annotations?.[Annotation.refName] ?? null }
      : null,
    manifests: scan.manifests.size,
    blobs: scan.held.size,
    fromEarlierTars: 0,
    fromLoadedTars: [],
    missing: [],
    problems: [...scan.problems],
    notes: [...scan.notes, ...(note === undefined ? [] : [note])],
  };
  const needed = [scan.graph, ...scan.referrers.map((referrer) => referrer.graph)].flatMap((graph) => graph?.blobs ?? []);
  for (const descriptor of needed) {
    if (isManifest(descriptor.mediaType) || scan.held.has(descriptor.digest)) continue;
    if (chain.holds(tar.name, descriptor.digest, scope)) {
      verdict.fromEarlierTars++;
      continue;
    }
    const expectedIn = expectedHolders(tar, descriptor.digest, chain, absent, context, scope);
    const blob = { digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType, expectedIn };
    const loaded = expectedIn.length > 0 && expectedIn.every((holder) => holder.state === 'loaded');
    if (loaded) verdict.fromLoadedTars.push(blob);
    else verdict.missing.push(blob);
  }
  if (verdict.missing.length > 0) {
    // Another name's tar holding them suggests --dedup-scope all, unless the tar records that it was not.
    const holders = scan.dedupScope === 'name' ? [] : verdict.missing.map((blob) => chain.holder(blob.digest));
    const other = holders.find((holder) => holder !== undefined);
    verdict.problems.push(
      `${verdict.missing.length} blob(s) of the artifact are in neither this tar nor an earlier tar here` +
        (other ? ` (${other} of another name holds some: serialized with --dedup-scope all?)` : ''),
    );
  }
  if (verdict.fromLoadedTars.length > 0) {
    verdict.notes.push(
      `${verdict.fromLoadedTars.length} blob(s) come from tars already loaded (successful-syncs.csv): ` +
        'deserialize checks the registry holds them',
    );
  }
  verdict.ok = verdict.problems.length === 0;
  return verdict;
}

/**
 * The tars that should have held a blob a tar leaves out: earlier tars in scope that are not here, or damaged.
 * The ledger, when it travelled, says exactly which.
 */
function expectedHolders(
  tar: SyncTar,
  digest: string,
  chain: DedupChain,
  absent: readonly AbsentTar[],
  context: Context,
  scope: DedupScope,
): ExpectedHolder[] {
  const inScope = (syncName: string) => {
    const name = parseSyncName(syncName)?.name;
    return scope === 'all' || name === undefined || name === '*' || name === tar.name;
  };
  const candidates: Array<{ number: number } & ExpectedHolder> = [
    ...absent.map((a) => ({
      number: a.number,
      syncName: a.syncName,
      state: a.state === 'loaded' ? ('loaded' as const) : ('absent' as const),
    })),
    ...chain.damaged.map((d) => ({ number: d.number, syncName: d.syncName, state: 'damaged' as const })),
  ].filter((c) => c.number < tar.number && inScope(c.syncName));
  candidates.sort((a, b) => a.number - b.number);
  const exact = candidates.filter((c) =>
    context.ledger.some((entry) => entry.syncName === c.syncName && entry.blobs.some((blob) => blob.digest === digest)),
  );
  return (exact.length > 0 ? exact : candidates).map(({ syncName, state }) => ({ syncName, state }));
}
