/**
 * ace-dt's `mirror batch-deserialize SYNC-DIRECTORY DESTINATION` (internal/actions/mirror/batch_deserialize.go,
 * BatchDeserialize.Run): the successful-syncs file read with encoding/csv; then os.ReadDir (names in byte order)
 * and, for every entry that is not a directory, does not end in `.csv` and is not recorded as synced, the name
 * split at `-` (exactly two parts, or the run stops), the tag cut at the first `.` of the second part, and
 * mirror.Deserialize (lenient) into DESTINATION:TAG, one repository for every tar. It stops at the first error.
 *
 * The model reads only: where ace-dt would create the successful-syncs file (O_CREATE) or append its rows at the
 * end, it returns the rows instead.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AceDtError, goErrno, withContext } from './errors.ts';
import { GoCsvReader } from './go-csv.ts';
import { ext } from './go-path.ts';
import { quote } from './go-strconv.ts';
import type { GoDescriptor } from './image-spec.ts';
import { deserialize } from './deserialize.ts';
import { digestError } from './oras.ts';
import { DestinationRepository } from './registry.ts';

export interface BatchDeserializeOptions {
  syncDir: string;
  /** DESTINATION: a repository without a tag, e.g. `registry.example:5000/mirror`. */
  destination: string;
  /** `--sync-filename` (default `successful-syncs.csv`). */
  successfulSyncFile?: string;
  /** What the destination holds already (earlier runs); a fresh one by default. */
  repository?: DestinationRepository;
}

export interface LoadedTar {
  file: string;
  /** `DESTINATION:TAG`, as ace-dt records it. */
  reference: string;
  root: GoDescriptor;
}

export interface BatchDeserializeResult {
  loaded: LoadedTar[];
  /** Entries skipped as recorded in the successful-syncs file. */
  skipped: string[];
  repository: DestinationRepository;
}

/** BatchDeserialize.Run; throws ace-dt's error (an AceDtError, with the entry it was at as `entry`). */
export async function batchDeserialize(options: BatchDeserializeOptions): Promise<BatchDeserializeResult> {
  const repository = options.repository ?? new DestinationRepository(options.destination);
  const synced = await readSuccessfulSyncs(join(options.syncDir, options.successfulSyncFile ?? 'successful-syncs.csv'));
  const entries = await readdir(options.syncDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    throw new AceDtError(`reading the directory: open ${options.syncDir}: ${goErrno(error)}`);
  });
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  const result: BatchDeserializeResult = { loaded: [], skipped: [], repository };
  for (const entry of entries) {
    if (ext(entry.name) === '.csv' || entry.isDirectory()) continue;
    if (synced.has(entry.name)) {
      result.skipped.push(entry.name);
      continue;
    }
    try {
      result.loaded.push(await loadEntry(options.syncDir, entry.name, options.destination, repository));
    } catch (error) {
      if (error instanceof Error) Object.assign(error, { entry: entry.name });
      throw error;
    }
  }
  return result;
}

async function loadEntry(syncDir: string, name: string, destination: string, repository: DestinationRepository): Promise<LoadedTar> {
  const parts = name.split('-');
  if (parts.length !== 2) {
    throw new AceDtError(
      `unexpected file name ${name}. Batch Deserialize expects tar files with an int-name format, e.g., 0-image1, 1-image2, etc`,
    );
  }
  const reference = `${destination}:${(parts[1] as string).split('.')[0]}`;
  checkGraphTarget(reference);
  const root = await deserialize({ file: join(syncDir, name), destination: repository, strict: false });
  return { file: name, reference, root };
}

/** The file of tars loaded before: encoding/csv with its defaults (every record as wide as the first); column 1 only. */
async function readSuccessfulSyncs(path: string): Promise<Set<string>> {
  const text = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return Buffer.alloc(0);
    throw new AceDtError(`opening successful sync file: open ${path}: ${goErrno(error)}`);
  });
  const records = await withContext('reading successful sync file', () => new GoCsvReader(text).readAll());
  return new Set(records.map((record) => record[0] as string));
}

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * action.Config.GraphTarget(DESTINATION:TAG): oras-go's registry.ParseReference through ace-dt's
 * CreateRepoWithCustomConfig and Configuration.Repository, which wrap its error. The registry part is not checked
 * (url.ParseRequestURI): the destination is the caller's.
 */
function checkGraphTarget(reference: string): void {
  const fail = (why: string): never => {
    throw new AceDtError(`creating repository ${quote(reference)}: invalid reference ${reference}: invalid reference: ${why}`);
  };
  const slash = reference.indexOf('/');
  if (slash < 0) fail('missing registry or repository');
  const path = reference.slice(slash + 1);
  const at = path.indexOf('@');
  const colon = path.indexOf(':');
  // A `@` makes the rest a digest (a tag before it is dropped); else a `:` starts a tag.
  const split = at >= 0 ? at : colon;
  const repository = split < 0 ? path : path.slice(0, at >= 0 && colon >= 0 && colon < at ? colon : split);
  const rest = split < 0 ? '' : path.slice(split + 1);
  if (!REPOSITORY.test(repository)) fail(`invalid repository ${quote(repository)}`);
  if (rest === '') return;
  const invalidDigest = at >= 0 ? digestError(rest) : undefined;
  if (invalidDigest !== undefined) fail(`invalid digest ${quote(rest)}: ${invalidDigest}`);
  if (at < 0 && !TAG.test(rest)) fail(`invalid tag ${quote(rest)}`);
}
