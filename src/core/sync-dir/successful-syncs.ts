import { formatCsv, parseCsv } from './csv.ts';
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
  const records = parseCsv(text, path, { problem: 'damaged successful-syncs file', trim: true });
  return records.flatMap(({ fields, line }, i) => {
    const [filename = '', second = '', third] = fields;
    if (i === 0 && filename === HEADER[0]) return [];
    if (filename === '') throw new InputError(`${path}:${line}: damaged successful-syncs file: empty file name`);
    return [third === undefined ? { filename, artifact: '', timestamp: second } : { filename, artifact: second, timestamp: third }];
  });
}

/** Replaced atomically after each tar, so a crash leaves every finished tar recorded and no half row. */
export async function writeSuccessfulSyncs(path: string, records: readonly SyncRecord[]): Promise<void> {
  const rows = [HEADER, ...records.map((r) => [r.filename, r.artifact, r.timestamp])];
  await replaceFile(path, formatCsv(rows));
}
