import { formatCsv, parseCsv } from './csv.ts';
import { readIfExists, replaceFile } from './files.ts';
import { InputError } from '../input-error.ts';
import { isDigest } from '../oci/digest.ts';
import { parseSyncName } from './sync-name.ts';

/** One row of `record-keeping.csv`: a tar that was completed and shipped. */
export interface TrackerRow {
  syncName: string;
  number: number;
  name: string;
  artifact: string;
  /** The root the artifact resolved to when it was serialized. */
  digest: string;
}

export const DEFAULT_TRACKER_FILENAME = 'record-keeping.csv';
const HEADER = 'sync_name,artifact,digest';

/** A missing tracker is a first run: no rows. */
export async function readTracker(path: string): Promise<TrackerRow[]> {
  const text = await readIfExists(path, 'tracker');
  return text === undefined ? [] : parseTracker(text, path);
}

export function parseTracker(text: string, file: string): TrackerRow[] {
  const records = parseCsv(text, file, { problem: 'damaged tracker' });
  const [header, ...rows] = records;
  if (!header) return [];
  if (header.fields.join(',') !== HEADER) {
    throw new InputError(`${file}:${header.line}: damaged tracker: the header must be exactly ${HEADER}`);
  }
  return rows.map(({ fields, line }) => {
    const where = `${file}:${line}`;
    if (fields.length !== 3) throw new InputError(`${where}: damaged tracker: expected 3 columns, found ${fields.length}`);
    const [sync = '', artifact = '', digest = ''] = fields;
    const parsed = parseSyncName(sync);
    if (!parsed) throw new InputError(`${where}: damaged tracker: sync_name ${JSON.stringify(sync)} is not NNNNNN-NAME.tar[.gz|.zst]`);
    if (artifact === '') throw new InputError(`${where}: damaged tracker: empty artifact`);
    if (!isDigest(digest)) throw new InputError(`${where}: damaged tracker: bad digest ${JSON.stringify(digest)}`);
    return { syncName: sync, ...parsed, artifact, digest };
  });
}

export function formatTracker(rows: readonly TrackerRow[]): string {
  return HEADER + '\n' + formatCsv(rows.map((row) => [row.syncName, row.artifact, row.digest]));
}

export async function writeTracker(path: string, rows: readonly TrackerRow[]): Promise<void> {
  await replaceFile(path, formatTracker(rows));
}

/** docs/formats.md "File names": the next number is the maximum + 1 (ace-dt takes the last row's and can go backwards). */
export function nextNumber(rows: readonly TrackerRow[]): number {
  return rows.reduce((max, row) => Math.max(max, row.number), 0) + 1;
}

/** The newest row of a name: what the far side holds for it now. */
export function newestRow(rows: readonly TrackerRow[], name: string): TrackerRow | undefined {
  let newest: TrackerRow | undefined;
  for (const row of rows) if (row.name === name && (!newest || row.number > newest.number)) newest = row;
  return newest;
}
