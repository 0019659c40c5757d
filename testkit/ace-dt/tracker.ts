/**
 * How ace-dt's `mirror batch-serialize` reads the tracker of a sync directory it continues
 * (internal/actions/mirror/batch_serialize.go, BatchSerialize.Run): encoding/csv with FieldsPerRecord -1,
 * Comment '#', TrimLeadingSpace; the first record skipped as the header; each row's sync_name split at `-`
 * (two parts, the first through strconv.Atoi), the name cut at its first `.`; the counter is the number of the
 * last row read unless a row of a name already seen has a smaller number. Its next tar is counter + 1.
 */
import { readFile } from 'node:fs/promises';
import { AceDtError, AceDtPanic, goErrno, withContext } from './errors.ts';
import { GoCsvReader } from './go-csv.ts';
import { atoi } from './go-strconv.ts';

export interface AceDtTrackerView {
  /** The number ace-dt gives its next tar. */
  nextNumber: number;
  /** Per name: artifact → the sync_name that shipped it (ace-dt skips an artifact found here). */
  shipped: Map<string, Map<string, string>>;
}

export async function readTrackerAsAceDt(path: string): Promise<AceDtTrackerView> {
  const text = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return Buffer.alloc(0);
    throw new AceDtError(`opening the record-keeping file: open ${path}: ${goErrno(error)}`);
  });
  const reader = new GoCsvReader(text, { fieldsPerRecord: -1, comment: '#', trimLeadingSpace: true });
  const records = await withContext('reading the record-keeping file', () => reader.readAll());
  const shipped = new Map<string, Map<string, string>>();
  let counter = 0;
  for (const record of records.slice(1)) {
    const syncName = record[0] as string;
    const parts = syncName.split('-');
    if (parts.length !== 2) throw new AceDtError(`unexpected tar file name ${syncName}`);
    const syncNumber = await withContext(`splitting on record name ${syncName}`, () => atoi(parts[0] as string));
    const name = (parts[1] as string).split('.')[0] as string;
    const known = shipped.get(name);
    if (known !== undefined && syncNumber < counter) continue;
    if (known === undefined) shipped.set(name, new Map());
    counter = syncNumber;
    if (record.length < 2) throw new AceDtPanic(`runtime error: index out of range [1] with length ${record.length}`);
    shipped.get(name)?.set(record[1] as string, syncName);
  }
  return { nextNumber: counter + 1, shipped };
}
