import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pathExists, readIfExists, replaceFile } from './files.ts';
import { sidePath } from './side-dir.ts';
import { InputError } from '../input-error.ts';
import { isDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/descriptor.ts';
import { parseSyncName } from './sync-name.ts';
import type { TrackerRow } from './tracker.ts';

export type LedgerBlob = Pick<Descriptor, 'digest' | 'size' | 'mediaType'>;

/**
 * What one tracker row delivered to the far side: every blob of its artifact's graph (those its tar holds and
 * those left out because an earlier tar of the chain holds them), so deduplication needs no registry round trip.
 * Rows learned from the registry for an ace-dt sync directory have no tar facts.
 */
export interface LedgerEntry {
  syncName: string;
  artifact: string;
  digest: string;
  /** The file as written (all its parts joined, for a tar written as `parts` of `--max-file-size`). */
  tar: { sha256: string; bytes: number; parts?: number } | null;
  blobs: LedgerBlob[];
}

/** The ledger is named for the tracker, in the side directory: `record-keeping.csv` → `batch-serialize/record-keeping.ledger.jsonl`. */
export function ledgerPath(trackerPath: string): string {
  return sidePath(dirname(trackerPath), ledgerName(trackerPath));
}

/** Where sync directories written before the side directory keep it: beside the tracker. */
export function legacyLedgerPath(trackerPath: string): string {
  return join(dirname(trackerPath), ledgerName(trackerPath));
}

function ledgerName(trackerPath: string): string {
  return basename(trackerPath).replace(/\.csv$/i, '') + '.ledger.jsonl';
}

/** The ledger to read: in the side directory, else beside the tracker (an older sync directory), else none yet. */
export async function findLedger(trackerPath: string): Promise<string> {
  const path = ledgerPath(trackerPath);
  const legacy = legacyLedgerPath(trackerPath);
  return !(await pathExists(path)) && (await pathExists(legacy)) ? legacy : path;
}

export async function readLedger(path: string): Promise<LedgerEntry[]> {
  const text = (await readIfExists(path, 'ledger')) ?? '';
  return text.split('\n').flatMap((line, i) => (line.trim() === '' ? [] : [parseEntry(line, `${path}:${i + 1}`)]));
}

function parseEntry(line: string, where: string): LedgerEntry {
  let entry: LedgerEntry;
  try {
    entry = JSON.parse(line) as LedgerEntry;
  } catch (error) {
    throw new InputError(`${where}: damaged ledger: ${(error as Error).message}`);
  }
  const wrong = firstWrongField(entry);
  if (wrong !== undefined) throw new InputError(`${where}: damaged ledger: ${wrong}`);
  return entry;
}

const isSize = (value: unknown) => Number.isSafeInteger(value) && (value as number) >= 0;

/** Every field checked as the tracker's are: the first one that is wrong, named (shard records hold entries too). */
export function firstWrongField(entry: LedgerEntry): string | undefined {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return 'not a JSON object';
  if (typeof entry.syncName !== 'string' || parseSyncName(entry.syncName) === undefined) return 'syncName is not NNNNNN-NAME.tar[.gz|.zst]';
  if (typeof entry.artifact !== 'string' || entry.artifact === '') return 'artifact is not a reference';
  if (!isDigest(entry.digest)) return 'digest is not a sha256 digest';
  if (entry.tar !== null && (typeof entry.tar !== 'object' || !isDigest(entry.tar.sha256) || !isSize(entry.tar.bytes))) {
    return 'tar is neither null nor { sha256, bytes }';
  }
  if (!Array.isArray(entry.blobs)) return 'blobs is not a list';
  const at = entry.blobs.findIndex(
    (blob) => blob === null || !isDigest(blob.digest) || !isSize(blob.size) || typeof blob.mediaType !== 'string',
  );
  return at < 0 ? undefined : `blobs[${at}] is not { digest, size (a whole number, 0 or more), mediaType }`;
}

export async function writeLedger(path: string, entries: readonly LedgerEntry[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await replaceFile(path, entries.map((entry) => JSON.stringify(entry) + '\n').join(''));
}

/** The entry that describes a tracker row: same tar and same root, or none (then the registry must tell). */
export function entryFor(entries: readonly LedgerEntry[], row: Pick<TrackerRow, 'syncName' | 'digest'>): LedgerEntry | undefined {
  return entries.find((entry) => entry.syncName === row.syncName && entry.digest === row.digest);
}
