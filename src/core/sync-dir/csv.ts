import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { InputError } from '../input-error.ts';

/** One CSV record and the line it was read from, for messages that name `file:line`. */
export interface CsvRecord {
  fields: string[];
  line: number;
}

export interface CsvOptions {
  /** What a parse failure says the file is: `damaged tracker` gives `FILE:LINE: damaged tracker: …`. */
  problem?: string;
  /** Lines starting a comment outside quotes (the batch list's `#`). */
  comment?: string;
  trim?: boolean;
}

/** Every non-empty record, any number of fields (each reader checks its own columns). */
export function parseCsv(text: string, file: string, options: CsvOptions = {}): CsvRecord[] {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, {
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
      bom: true,
      trim: options.trim ?? false,
      ...(options.comment === undefined ? {} : { comment: options.comment }),
    }) as unknown as typeof records;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    const problem = options.problem === undefined ? '' : `${options.problem}: `;
    throw new InputError(`${file}${line ? `:${line}` : ''}: ${problem}${(error as Error).message}`);
  }
  return records.map(({ record, info }) => ({ fields: record, line: info.lines }));
}

/** Rows as CSV with `\n` line ends, quoted where a field needs it. */
export function formatCsv(rows: readonly string[][]): string {
  return stringify(rows as string[][], { record_delimiter: 'unix' });
}
