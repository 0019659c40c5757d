import { readRequired } from '../sync-dir/files.ts';
import { parse } from 'csv-parse/sync';
import { InputError } from '../input-error.ts';
import { parseReference, type Reference } from '../oci/reference.ts';

/** One artifact to ship: the winning row of its name. */
export interface BatchEntry {
  name: string;
  /** As written in the batch list (trimmed): what the tracker records and the tar's ref.name carries. */
  artifact: string;
  reference: Reference;
  /** `file:line`, for every message about this row. */
  where: string;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HEADER = ['name', 'artifact'];

export async function readBatchList(path: string): Promise<BatchEntry[]> {
  return parseBatchList(await readRequired(path, 'batch list'), path);
}

/**
 * formats.md "Batch list": a header only when it reads name,artifact; `#` outside quotes starts a comment;
 * the last row of a name wins, and entries come in file order of their winning rows.
 */
export function parseBatchList(text: string, file: string): BatchEntry[] {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, {
      comment: '#',
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
      bom: true,
    }) as unknown as typeof records;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    throw new InputError(`${file}${line ? `:${line}` : ''}: ${(error as Error).message}`);
  }
  const first = records[0];
  if (first && first.record.length === 2 && first.record.every((field, i) => field.toLowerCase() === HEADER[i])) {
    records.shift();
  }

  const winners = new Map<string, BatchEntry>();
  for (const { record, info } of records) {
    const where = `${file}:${info.lines}`;
    const entry = parseRow(record, where);
    winners.delete(entry.name);
    winners.set(entry.name, entry);
  }
  return [...winners.values()];
}

function parseRow(record: string[], where: string): BatchEntry {
  if (record.length !== 2) {
    throw new InputError(`${where}: expected 2 columns (name,artifact), found ${record.length}`);
  }
  const [name = '', artifact = ''] = record;
  if (!NAME.test(name)) {
    throw new InputError(
      `${where}: invalid name ${JSON.stringify(name)}: use 1-128 of A-Z a-z 0-9 . _ -, not starting with . or -`,
    );
  }
  if (artifact === '') throw new InputError(`${where}: empty artifact for name ${JSON.stringify(name)}`);
  try {
    return { name, artifact, reference: parseReference(artifact), where };
  } catch (error) {
    throw new InputError(`${where}: ${(error as Error).message}`);
  }
}
