import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathExists, syncDirectory } from '../sync-dir/files.ts';
import { crashPoint } from '../crash-point.ts';
import { decompressor, type Compression } from '../archive/compression.ts';
import { writeLedger, type LedgerEntry } from '../sync-dir/ledger.ts';
import { dockerLoadManifest } from '../archive/docker-load-manifest.ts';
import { Annotation, isManifest, type Manifest } from '../oci/descriptor.ts';
import type { PlannedTar } from './planner.ts';
import type { DedupScope } from '../sync-dir/dedup-scope.ts';
import { Prefetcher } from './prefetch.ts';
import { locateSidecar, readSidecar, sidecarPath, sidecarTarName, writeSidecar } from '../archive/sidecar.ts';
import type { PartFile, VolumeTarget } from '../archive/part-writer.ts';
import { TarSource } from '../archive/tar-source.ts';
import { hashTarFile } from '../archive/tar-reader.ts';
import { makeSideDir, SIDE_DIR, sidePath } from '../sync-dir/side-dir.ts';
import type { Storages } from '../oci/storage.ts';
import { writeTar, type TarBlob } from '../archive/tar-writer.ts';
import { writeTracker, type TrackerRow } from '../sync-dir/tracker.ts';
import { parsePartName, parseSyncName, partialName, partName } from '../sync-dir/sync-name.ts';
import { TOOL_VERSION } from '../version.ts';

export interface SerializeSettings {
  syncDir: string;
  trackerPath: string;
  ledgerPath: string;
  compression: Compression;
  compressionLevel: number | undefined;
  /** Recorded in each tar's index.json, for the far side. */
  dedupScope: DedupScope;
  manifestJson: boolean;
  concurrency: number;
  /** `--max-file-size`: a tar whose file would be larger is written as parts of this size (the last one smaller). */
  maxFileSize?: number | undefined;
}

/** A tar that is complete on disk. */
export interface WrittenTar {
  syncName: string;
  /** `DIR/SYNC-NAME`; for a tar written as parts, the file they join to (not on disk). */
  path: string;
  /** The files on disk, in order: `path`, or the parts `SYNC-NAME.part-001`, … (`--max-file-size`). */
  files: string[];
  /** `batch-serialize/NAME.sha256`, in sha256sum's format: `sha256sum -c` checks the tar on the far side. */
  checksumPath: string;
  name: string;
  artifact: string;
  digest: string;
  /** The file as written (after compression; all its parts joined). */
  bytes: number;
  sha256: string;
  /** Blobs in the tar (manifests included) and their bytes before compression. */
  blobs: number;
  contentBytes: number;
  /** Blobs left out because an earlier tar holds them, and their bytes. */
  deduplicatedBlobs: number;
  deduplicatedBytes: number;
}

export interface SerializeHooks {
  tarStarted?(tar: PlannedTar): void;
  /** Content bytes since the last call, as they enter the tar. */
  progress?(bytes: number): void;
  /**
   * Runs once a tar is complete and before the tracker records it (the Action uploads it here).
   * Throwing stops the run and leaves that tar unrecorded.
   */
  beforeRecord?(tar: WrittenTar): Promise<void>;
  tarRecorded?(tar: WrittenTar): void;
  /**
   * Said, not failures, for stderr or a log (the CLI prints `batch-serialize: note: MESSAGE`): a first run (no
   * tracker), a stale lock taken over, leftovers of a run that died removed, an unrecorded tar recorded or moved aside.
   */
  note?(message: string): void;
  /** Worth a user's attention but no failure (the CLI prints `batch-serialize: warning: MESSAGE`; the Action warns). */
  warning?(message: string): void;
}

export interface SyncState {
  tracker: TrackerRow[];
  ledger: LedgerEntry[];
}

/** The folder in the sync directory where files found in a run's way are moved (never deleted), one folder per run. */
export const MOVED_ASIDE_DIRECTORY = 'moved-aside';

/**
 * Writes the planned tars one by one. Each is written as `batch-serialize/NAME.partial`, gets its sidecar
 * `batch-serialize/NAME.sha256`, is renamed to `NAME` when complete, handed to `beforeRecord`, and only then
 * recorded: ledger, then tracker, each replaced atomically. The caller holds the sync directory's lock.
 *
 * A run that died after the rename left a tar the tracker does not record. If it is a tar this run writes, it is
 * written again and the two compared (same input, same bytes): the same file, its sidecar
 * matching, is recorded as it is; anything else in the way (another file of that name, a tar numbered among this
 * run's that it does not write) is moved to `moved-aside/`, with a note, and the run goes on.
 */
export async function serializePlan(
  tars: readonly PlannedTar[],
  state: SyncState,
  settings: SerializeSettings,
  storages: Storages,
  hooks: SerializeHooks = {},
): Promise<WrittenTar[]> {
  const written: WrittenTar[] = [];
  const unrecorded = await clearTheWay(tars, state.tracker, settings.syncDir, hooks);
  for (const tar of tars) {
    const done = await writeOne(tar, settings, storages, hooks, unrecorded.get(tar.syncName));
    await hooks.beforeRecord?.(done);
    // A run that died between the ledger and the tracker recorded this tar in the ledger only: that entry goes.
    for (let i = state.ledger.length - 1; i >= 0; i--) if (state.ledger[i]?.syncName === done.syncName) state.ledger.splice(i, 1);
    state.ledger.push({
      syncName: done.syncName,
      artifact: done.artifact,
      digest: done.digest,
      tar: { sha256: done.sha256, bytes: done.bytes, ...(done.files.length > 1 ? { parts: done.files.length } : {}) },
      blobs: tar.graph.nodes.map(({ descriptor: { digest, size, mediaType } }) => ({ digest, size, mediaType })),
    });
    await writeLedger(settings.ledgerPath, state.ledger);
    crashPoint('ledger-written');
    state.tracker.push({ syncName: done.syncName, number: tar.number, name: tar.entry.name, artifact: done.artifact, digest: done.digest });
    await writeTracker(settings.trackerPath, state.tracker);
    crashPoint('tracker-written');
    hooks.tarRecorded?.(done);
    written.push(done);
  }
  return written;
}

/**
 * The unrecorded files numbered among this run's tars: tars it does not write are moved aside, sidecars of tars
 * that are not there removed (the run that wrote them died before the rename). Returns the unrecorded tars this run
 * writes (to compare once written again), each with its way aside.
 */
async function clearTheWay(
  tars: readonly PlannedTar[],
  tracker: readonly TrackerRow[],
  syncDir: string,
  hooks: SerializeHooks,
): Promise<Map<string, MoveAside>> {
  const first = tars[0]?.number ?? Infinity;
  const recorded = new Set(tracker.map((row) => row.syncName));
  const planned = new Set(tars.map((tar) => tar.syncName));
  // A tar's parts count as the tar.
  const names = new Set((await readdir(syncDir).catch(() => [] as string[])).map((name) => parsePartName(name)?.syncName ?? name));
  const ours = (syncName: string) => !recorded.has(syncName) && (parseSyncName(syncName)?.number ?? 0) >= first;
  const aside = new MoveAside(syncDir, hooks);
  const found = new Map<string, MoveAside>();
  for (const name of [...names].sort()) {
    if (ours(name) && planned.has(name)) found.set(name, aside);
    else if (ours(name)) await aside.move(name, 'not recorded in the tracker and numbered among the tars this run writes');
  }
  for (const name of (await readdir(join(syncDir, SIDE_DIR)).catch(() => [] as string[])).sort()) {
    const tarName = sidecarTarName(name);
    if (tarName !== undefined && ours(tarName) && !names.has(tarName)) {
      await rm(sidePath(syncDir, name), { force: true });
      hooks.note?.(`removed ${join(SIDE_DIR, name)}: the sidecar of a tar that is not here, left by a run that stopped before the rename`);
    }
  }
  return found;
}

/** Files in the way go to `moved-aside/STAMP-pidPID/`, a folder per run (a folder: no reader takes it for a tar). */
class MoveAside {
  private readonly syncDir: string;
  private readonly hooks: SerializeHooks;
  private folder: string | undefined;

  constructor(syncDir: string, hooks: SerializeHooks) {
    this.syncDir = syncDir;
    this.hooks = hooks;
  }

  /** Moves the tar or its parts (or both), and its sidecar (from the side directory, or beside it in an older sync directory). */
  async move(syncName: string, why: string): Promise<void> {
    if (this.folder === undefined) {
      const stamp = new Date().toISOString().replace(/[-:]|\.\d+/g, '');
      this.folder = join(this.syncDir, MOVED_ASIDE_DIRECTORY, `${stamp}-pid${process.pid}`);
      await mkdir(this.folder, { recursive: true });
    }
    const tarPath = join(this.syncDir, syncName);
    for (const name of await filesHere(this.syncDir, syncName)) await rename(join(this.syncDir, name), join(this.folder, name));
    const sidecar = await locateSidecar(tarPath);
    if (sidecar !== undefined) await rename(sidecar, join(this.folder, basename(sidecar)));
    await syncDirectory(this.syncDir);
    this.hooks.note?.(`${syncName}: ${why}: moved to ${this.folder}`);
  }
}

/** The names at the top of the sync directory that hold the tar: the file, and its parts in order. */
async function filesHere(syncDir: string, syncName: string): Promise<string[]> {
  const names = await readdir(syncDir).catch(() => [] as string[]);
  const parts = names.flatMap((name) => (parsePartName(name)?.syncName === syncName ? [name] : []));
  return [
    ...(names.includes(syncName) ? [syncName] : []),
    ...parts.sort((a, b) => (parsePartName(a)?.index ?? 0) - (parsePartName(b)?.index ?? 0)),
  ];
}

/** The sha256 and size of the files' content, joined in order and decompressed (hashTarFile hashes them as stored). */
async function hashFiles(paths: readonly string[], compression: Compression): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.byteLength;
      done(null, chunk);
    },
  });
  const decompress = decompressor(compression);
  const source = await TarSource.open(paths[0] as string, paths.length > 1 ? paths : []);
  try {
    const stream = source.stream();
    await (decompress ? pipeline(stream, decompress, count, hash) : pipeline(stream, count, hash));
  } finally {
    await source.close();
  }
  return { sha256: `sha256:${hash.digest('hex')}`, bytes };
}

async function writeOne(
  tar: PlannedTar,
  settings: SerializeSettings,
  storages: Storages,
  hooks: SerializeHooks,
  /** Set when an unrecorded file of this name is here: compared with the new tar, and moved aside if it differs. */
  leftover: MoveAside | undefined,
): Promise<WrittenTar> {
  const path = join(settings.syncDir, tar.syncName);
  const partial = sidePath(settings.syncDir, partialName(tar.syncName));
  if (leftover === undefined && (await pathExists(path))) {
    throw new Error(`${path} exists but the tracker does not record it; refusing to overwrite it (move it away and run again)`);
  }
  hooks.tarStarted?.(tar);

  const downloads = tar.blobs.filter((descriptor) => !isManifest(descriptor.mediaType));
  const prefetcher = new Prefetcher(storages.open(tar.entry.reference), downloads, {
    concurrency: settings.concurrency,
    context: tar.syncName,
  });
  const fetched = new Map(prefetcher.blobs().map((blob) => [blob.descriptor.digest, blob]));
  const blobs: TarBlob[] = [];
  for (const node of tar.graph.nodes) {
    const { manifest } = node;
    if (manifest !== undefined) blobs.push({ descriptor: node.descriptor, open: async () => Readable.from([manifest]) });
    else {
      const blob = fetched.get(node.descriptor.digest);
      if (blob) blobs.push(blob);
    }
  }
  const rootJson = JSON.parse(Buffer.from(tar.graph.nodes[0]?.manifest ?? '{}').toString('utf8')) as Manifest;
  const files = settings.manifestJson ? [{ name: 'manifest.json', bytes: dockerLoadManifest(tar.graph, tar.entry.artifact) }] : [];

  let started = false;
  const onBytes = (bytes: number) => {
    if (!started) crashPoint('tar-writing');
    started = true;
    hooks.progress?.(bytes);
  };
  // Parts are written as `batch-serialize/NAME.part-NNN.partial`; a tar that fits in one is renamed to NAME.partial.
  const volume: VolumeTarget | undefined =
    settings.maxFileSize === undefined
      ? undefined
      : { partBytes: settings.maxFileSize, partPath: (index) => sidePath(settings.syncDir, partialName(partName(tar.syncName, index))) };
  try {
    await makeSideDir(settings.syncDir);
    const result = await writeTar(
      volume ?? partial,
      {
        root: tar.root,
        manifests: [tar.root, ...tar.graph.manifests.slice(1)],
        annotations: {
          [Annotation.serializationVersion]: '2',
          [Annotation.layerSizeDeduplicated]: rootJson.annotations?.[Annotation.layerSizeDeduplicated] ?? '0',
          [Annotation.toolVersion]: TOOL_VERSION,
          [Annotation.dedupScope]: settings.dedupScope,
        },
        blobs,
        files,
      },
      { compression: settings.compression, level: settings.compressionLevel, onBytes },
    );
    const parts = result.parts ?? [];
    if (parts.length === 1) await rename((parts[0] as PartFile).path, partial);
    const written: WrittenFile[] =
      parts.length > 1
        ? parts.map((part, index) => ({ from: part.path, name: partName(tar.syncName, index + 1), sha256: part.sha256 }))
        : [{ from: partial, name: tar.syncName, sha256: result.sha256 }];
    crashPoint('tar-written');
    const checksumPath = sidecarPath(path);
    const kept = leftover === undefined ? undefined : await sameTar(settings.syncDir, tar.syncName, written, result, settings.compression);
    if (kept !== undefined && kept.here < written.length) {
      // A run stopped between the renames of the parts: the first ones are in place, the same bytes; the rest follow.
      for (const [index, file] of written.entries()) {
        if (index < kept.here) await rm(file.from);
        else await rename(file.from, join(settings.syncDir, file.name));
      }
      await syncDirectory(settings.syncDir);
      hooks.note?.(
        `${tar.syncName}: ${kept.here} of its ${written.length} parts were in place (a run stopped while renaming them), the same ` +
          'bytes as this run writes, its sidecar matching: the others put beside them',
      );
    } else if (kept !== undefined) {
      await Promise.all(written.map((file) => rm(file.from)));
      const same = kept.sha256 === result.sha256 ? 'byte for byte' : 'decompressed (compressed differently)';
      hooks.note?.(
        `${tar.syncName}: complete but not recorded (a run stopped before recording it), ${same} the tar this run ` +
          'writes, its sidecar matching: recorded as it is',
      );
    } else {
      if (leftover !== undefined) {
        await leftover.move(tar.syncName, 'not recorded in the tracker, and not the tar this run writes under that name');
      }
      await writeSidecar(path, written);
      crashPoint('sidecar-written');
      // In order: a run that stops between two renames leaves a set with its last parts missing, never a gap.
      for (const file of written) {
        await rename(file.from, join(settings.syncDir, file.name));
        if (written.length > 1) crashPoint('part-renamed');
      }
      await syncDirectory(settings.syncDir);
      crashPoint('renamed');
    }
    return {
      syncName: tar.syncName,
      path,
      files: written.map((file) => join(settings.syncDir, file.name)),
      checksumPath,
      name: tar.entry.name,
      artifact: tar.entry.artifact,
      digest: tar.root.digest,
      bytes: (kept ?? result).bytes,
      sha256: (kept ?? result).sha256,
      blobs: blobs.length,
      contentBytes: tar.contentBytes,
      deduplicatedBlobs: tar.deduplicated.length,
      deduplicatedBytes: tar.deduplicatedBytes,
    };
  } finally {
    await prefetcher.close();
  }
}

/** A file of a tar just written: where it is (in the side directory), its name at the top, its sha256. */
interface WrittenFile {
  from: string;
  name: string;
  sha256: string;
}

/**
 * Whether the unrecorded tar here (a file, or parts) is the tar just written, its sidecar matching each file: the
 * same files, the same bytes, or (compressed) the same tar once decompressed (zstd's bytes can depend on how its
 * input arrived). Its sha256 and size (all parts joined) when it is; undefined when it is anything else. `here` is
 * how many of the files are in place: fewer than all when a run stopped between the renames of the parts (then the
 * sidecar lists all of them and those in place are the same bytes).
 */
async function sameTar(
  syncDir: string,
  syncName: string,
  written: readonly WrittenFile[],
  fresh: { sha256: string; bytes: number },
  compression: Compression,
): Promise<{ sha256: string; bytes: number; here: number } | undefined> {
  const here = await filesHere(syncDir, syncName);
  const names = written.map((file) => file.name);
  if (here.length === 0 || here.join('/') !== names.slice(0, here.length).join('/')) return undefined;
  const paths = here.map((name) => join(syncDir, name));
  // One pass: each file's sha256 (its sidecar line) and all of them joined (the tar's).
  const read = await hashTarFile(join(syncDir, syncName), paths).catch(() => undefined);
  const sums = read?.parts;
  const sidecar = await readSidecar(join(syncDir, syncName));
  const matching =
    sums !== undefined &&
    'lines' in sidecar &&
    sidecar.lines.length === written.length &&
    sidecar.lines.every((line, index) => line.name === names[index] && (index >= here.length || line.sha256 === sums[index]?.sha256));
  if (!matching) return undefined;
  if (here.length < written.length) {
    const same = sidecar.lines.every(
      (line, index) => line.sha256 === written[index]?.sha256 && (index >= here.length || line.sha256 === sums[index]?.sha256),
    );
    return same ? { ...fresh, here: here.length } : undefined;
  }
  const found = { sha256: (read as { sha256: string }).sha256, bytes: (read as { bytes: number }).bytes, here: here.length };
  if (found.sha256 === fresh.sha256) return found;
  if (compression === 'none') return undefined;
  const [was, is] = await Promise.all([
    hashFiles(paths, compression),
    hashFiles(
      written.map((file) => file.from),
      compression,
    ),
  ]).catch(() => []);
  return was !== undefined && was.sha256 === is?.sha256 ? found : undefined;
}

/** What a run's tars add up to: the total row of the CLI's table and of the Action's summary. */
export type TarTotals = Pick<WrittenTar, 'blobs' | 'contentBytes' | 'bytes' | 'deduplicatedBlobs' | 'deduplicatedBytes'>;

export function totalsOf(tars: readonly WrittenTar[]): TarTotals {
  const totals: TarTotals = { blobs: 0, contentBytes: 0, bytes: 0, deduplicatedBlobs: 0, deduplicatedBytes: 0 };
  for (const tar of tars) for (const key of Object.keys(totals) as Array<keyof TarTotals>) totals[key] += tar[key];
  return totals;
}
