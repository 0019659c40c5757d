import { readRequired } from '../sync-dir/files.ts';
import { parseCsv } from '../sync-dir/csv.ts';
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
/** A registry can hold it: deserialize loads NAME into the repository DEST/NAME (far-side/destination.ts repositoryUnder). */
const PROBE_REGISTRY = 'registry.invalid';

export async function readBatchList(path: string): Promise<BatchEntry[]> {
  return parseBatchList(await readRequired(path, 'batch list'), path);
}

/**
 * docs/formats.md "Batch list": a header only when it reads name,artifact; `#` outside quotes starts a comment;
 * the last row of a name wins, and entries come in file order of their winning rows.
 */
export function parseBatchList(text: string, file: string): BatchEntry[] {
  const records = parseCsv(text, file, { comment: '#', trim: true });
  const first = records[0];
  if (first && first.fields.length === 2 && first.fields.every((field, i) => field.toLowerCase() === HEADER[i])) {
    records.shift();
  }

  const winners = new Map<string, BatchEntry>();
  for (const { fields, line } of records) {
    const where = `${file}:${line}`;
    const entry = parseRow(fields, where);
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
    throw new InputError(`${where}: invalid name ${JSON.stringify(name)}: use 1-128 of A-Z a-z 0-9 . _ -, not starting with . or -`);
  }
  const unloadable = farSideProblem(name);
  if (unloadable !== undefined) throw new InputError(`${where}: invalid name ${JSON.stringify(name)}: ${unloadable}`);
  if (artifact === '') throw new InputError(`${where}: empty artifact for name ${JSON.stringify(name)}`);
  try {
    return { name, artifact, reference: parseReference(artifact), where };
  } catch (error) {
    throw new InputError(`${where}: ${(error as Error).message}`);
  }
}

/**
 * Why the far side cannot load a name, or undefined: `deserialize` loads each name into the repository DEST/NAME,
 * and a repository path component is lowercase letters and digits separated by one `.` or `_`, two `_`, or `-`s
 * (docs/formats.md "References"). Refused here, before anything is shipped, rather than across the air gap.
 */
function farSideProblem(name: string): string | undefined {
  if (isRepositoryComponent(name)) return undefined;
  const lower = name.toLowerCase();
  const instead = lower !== name && isRepositoryComponent(lower) ? ` (use ${JSON.stringify(lower)})` : '';
  const why = /[A-Z]/.test(name) ? 'registry repository names are lowercase' : 'it is not a registry repository name';
  return (
    `the far side loads it into the repository DEST/${name} and ${why}: ` +
    `use lowercase letters and digits, separated by one . or _, two _, or -s${instead}`
  );
}

function isRepositoryComponent(name: string): boolean {
  try {
    const parsed = parseReference(`${PROBE_REGISTRY}/${name}`);
    return parsed.kind === 'registry' && parsed.registry === PROBE_REGISTRY && parsed.repository === name;
  } catch {
    return false;
  }
}

/**
 * Names our far side loads but ace-dt's `batch-deserialize` cannot: it needs exactly one `-` in a tar's file name
 * (NNNNNN-NAME) and cuts the name at the first `.`; its `batch-serialize` refuses a tracker that holds them.
 */
export function aceDtNameWarnings(entries: readonly BatchEntry[]): string[] {
  return entries
    .filter((entry) => /[-.]/.test(entry.name))
    .map(
      (entry) =>
        `${entry.where}: name ${JSON.stringify(entry.name)} has a "-" or ".": ace-dt's batch-deserialize cannot load its ` +
        'tars (it needs exactly one "-" in a tar\'s name and cuts the name at the first "."); our deserialize can',
    );
}
