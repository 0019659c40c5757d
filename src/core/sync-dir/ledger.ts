import { readIfExists, replaceFile } from './files.ts';
import { InputError } from '../input-error.ts';
import { isDigest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/descriptor.ts';
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
  tar: { sha256: string; bytes: number } | null;
  blobs: LedgerBlob[];
}

/** The ledger sits beside the tracker: `record-keeping.csv` → `record-keeping.ledger.jsonl`. */
export function ledgerPath(trackerPath: string): string {
  return trackerPath.replace(/\.csv$/i, '') + '.ledger.jsonl';
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
  const valid =
    typeof entry.syncName === 'string' &&
    typeof entry.artifact === 'string' &&
    isDigest(entry.digest) &&
    Array.isArray(entry.blobs) &&
    entry.blobs.every((blob) => isDigest(blob.digest) && Number.isSafeInteger(blob.size) && typeof blob.mediaType === 'string');
  if (!valid) throw new InputError(`${where}: damaged ledger: not a ledger entry`);
  return entry;
}

export async function writeLedger(path: string, entries: readonly LedgerEntry[]): Promise<void> {
  await replaceFile(path, entries.map((entry) => JSON.stringify(entry) + '\n').join(''));
}

/** The entry that describes a tracker row: same tar and same root, or none (then the registry must tell). */
export function entryFor(entries: readonly LedgerEntry[], row: TrackerRow): LedgerEntry | undefined {
  return entries.find((entry) => entry.syncName === row.syncName && entry.digest === row.digest);
}
