import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { readIfExists, replaceFile } from './files.ts';
import { InputError } from '../input-error.ts';

/** One row of `successful-syncs.csv` (ace-dt's columns): a tar that is completely loaded at the far side. */
export interface SyncRecord {
  filename: string;
  /** What it was loaded as: `host/dest/name:tag@sha256:…` (ace-dt writes `DEST:NAME`). */
  artifact: string;
  timestamp: string;
}

export const SUCCESSFUL_SYNCS_FILENAME = 'successful-syncs.csv';
const HEADER = ['filename', 'artifact', 'timestamp'];

/**
 * A missing file is a first load. ace-dt's files are read too: with or without the header, and with only
 * `filename,timestamp` (its older releases); only the file name matters for skipping.
 */
export async function readSuccessfulSyncs(path: string): Promise<SyncRecord[]> {
  const text = await readIfExists(path, 'successful-syncs file');
  if (text === undefined) return [];
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true, trim: true, info: true }) as unknown as typeof records;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    throw new InputError(`${path}${line ? `:${line}` : ''}: damaged successful-syncs file: ${(error as Error).message}`);
  }
  return records.flatMap(({ record, info }, i) => {
    const [filename = '', second = '', third] = record;
    if (i === 0 && filename === HEADER[0]) return [];
    if (filename === '') throw new InputError(`${path}:${info.lines}: damaged successful-syncs file: empty file name`);
    return [third === undefined ? { filename, artifact: '', timestamp: second } : { filename, artifact: second, timestamp: third }];
  });
}

/** Replaced atomically after each tar, so a crash leaves every finished tar recorded and no half row. */
export async function writeSuccessfulSyncs(path: string, records: readonly SyncRecord[]): Promise<void> {
  const rows = [HEADER, ...records.map((r) => [r.filename, r.artifact, r.timestamp])];
  await replaceFile(path, stringify(rows, { record_delimiter: 'unix' }));
}
