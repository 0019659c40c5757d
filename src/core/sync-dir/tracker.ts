import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
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
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true, info: true }) as unknown as typeof records;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    throw new InputError(`${file}${line ? `:${line}` : ''}: damaged tracker: ${(error as Error).message}`);
  }
  const [header, ...rows] = records;
  if (!header) return [];
  if (header.record.join(',') !== HEADER) {
    throw new InputError(`${file}:${header.info.lines}: damaged tracker: the header must be exactly ${HEADER}`);
  }
  return rows.map(({ record, info }) => {
    const where = `${file}:${info.lines}`;
    if (record.length !== 3) throw new InputError(`${where}: damaged tracker: expected 3 columns, found ${record.length}`);
    const [sync = '', artifact = '', digest = ''] = record;
    const parsed = parseSyncName(sync);
    if (!parsed) throw new InputError(`${where}: damaged tracker: sync_name ${JSON.stringify(sync)} is not NNNNNN-NAME.tar[.gz|.zst]`);
    if (artifact === '') throw new InputError(`${where}: damaged tracker: empty artifact`);
    if (!isDigest(digest)) throw new InputError(`${where}: damaged tracker: bad digest ${JSON.stringify(digest)}`);
    return { syncName: sync, ...parsed, artifact, digest };
  });
}

export function formatTracker(rows: readonly TrackerRow[]): string {
  return HEADER + '\n' + stringify(rows.map((row) => [row.syncName, row.artifact, row.digest]), { record_delimiter: 'unix' });
}

export async function writeTracker(path: string, rows: readonly TrackerRow[]): Promise<void> {
  await replaceFile(path, formatTracker(rows));
}

/** formats.md: the next number is the maximum + 1 (ace-dt takes the last row's and can go backwards). */
export function nextNumber(rows: readonly TrackerRow[]): number {
  return rows.reduce((max, row) => Math.max(max, row.number), 0) + 1;
}

/** The newest row of a name: what the far side holds for it now. */
export function newestRow(rows: readonly TrackerRow[], name: string): TrackerRow | undefined {
  let newest: TrackerRow | undefined;
  for (const row of rows) if (row.name === name && (!newest || row.number > newest.number)) newest = row;
  return newest;
}
