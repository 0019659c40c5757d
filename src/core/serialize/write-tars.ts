import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathExists, syncDirectory } from '../sync-dir/files.ts';
import type { Compression } from '../archive/compression.ts';
import { writeLedger, type LedgerEntry } from '../sync-dir/ledger.ts';
import { dockerLoadManifest } from '../archive/docker-load-manifest.ts';
import { Annotation, isManifest, type Manifest } from '../oci/descriptor.ts';
import type { PlannedTar } from './planner.ts';
import { Prefetcher } from './prefetch.ts';
import { writeSidecar } from '../archive/sidecar.ts';
import type { Storages } from '../oci/storage.ts';
import { writeTar, type TarBlob } from '../archive/tar-writer.ts';
import { writeTracker, type TrackerRow } from '../sync-dir/tracker.ts';
import { isPartialName, partialName } from '../sync-dir/sync-name.ts';
import { TOOL_VERSION } from '../version.ts';

export interface SerializeSettings {
  syncDir: string;
  trackerPath: string;
  ledgerPath: string;
  compression: Compression;
  compressionLevel: number | undefined;
  manifestJson: boolean;
  concurrency: number;
}

/** A tar that is complete on disk. */
export interface WrittenTar {
  syncName: string;
  path: string;
  /** `PATH.sha256`, in sha256sum's format: `sha256sum -c` checks the tar on the far side. */
  checksumPath: string;
  name: string;
  artifact: string;
  digest: string;
  /** The file as written (after compression). */
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
}

export interface SyncState {
  tracker: TrackerRow[];
  ledger: LedgerEntry[];
}

/** A `.partial` tar left by a run that died is ours to remove. */
export async function removeLeftovers(syncDir: string): Promise<void> {
  const names = (await readdir(syncDir).catch(() => [])).filter(isPartialName);
  await Promise.all(names.map((name) => rm(join(syncDir, name), { recursive: true, force: true })));
}

/**
 * Writes the planned tars one by one. Each is written as `NAME.partial`, gets its `NAME.sha256` beside it, is
 * renamed when complete, handed to
 * `beforeRecord`, and only then recorded: ledger, then tracker, each replaced atomically.
 */
export async function serializePlan(
  tars: readonly PlannedTar[],
  state: SyncState,
  settings: SerializeSettings,
  storages: Storages,
  hooks: SerializeHooks = {},
): Promise<WrittenTar[]> {
  const written: WrittenTar[] = [];
  for (const tar of tars) {
    const done = await writeOne(tar, settings, storages, hooks);
    await hooks.beforeRecord?.(done);
    state.ledger.push({
      syncName: done.syncName,
      artifact: done.artifact,
      digest: done.digest,
      tar: { sha256: done.sha256, bytes: done.bytes },
      blobs: tar.graph.nodes.map(({ descriptor: { digest, size, mediaType } }) => ({ digest, size, mediaType })),
    });
    await writeLedger(settings.ledgerPath, state.ledger);
    state.tracker.push({ syncName: done.syncName, number: tar.number, name: tar.entry.name, artifact: done.artifact, digest: done.digest });
    await writeTracker(settings.trackerPath, state.tracker);
    hooks.tarRecorded?.(done);
    written.push(done);
  }
  return written;
}

async function writeOne(tar: PlannedTar, settings: SerializeSettings, storages: Storages, hooks: SerializeHooks): Promise<WrittenTar> {
  const path = join(settings.syncDir, tar.syncName);
  if (await pathExists(path)) {
    throw new Error(`${path} exists but the tracker does not record it; refusing to overwrite it (move it away and run again)`);
  }
  hooks.tarStarted?.(tar);

  const downloads = tar.blobs.filter((descriptor) => !isManifest(descriptor.mediaType));
  const prefetcher = new Prefetcher(storages.open(tar.entry.reference), downloads, { concurrency: settings.concurrency });
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

  try {
    const result = await writeTar(
      partialName(path),
      {
        root: tar.root,
        manifests: [tar.root, ...tar.graph.manifests.slice(1)],
        annotations: {
          [Annotation.serializationVersion]: '2',
          [Annotation.layerSizeDeduplicated]: rootJson.annotations?.[Annotation.layerSizeDeduplicated] ?? '0',
          [Annotation.toolVersion]: TOOL_VERSION,
        },
        blobs,
        files,
      },
      { compression: settings.compression, level: settings.compressionLevel, onBytes: hooks.progress },
    );
    const checksumPath = await writeSidecar(path, result.sha256);
    await rename(partialName(path), path);
    await syncDirectory(settings.syncDir);
    return {
      syncName: tar.syncName,
      path,
      checksumPath,
      name: tar.entry.name,
      artifact: tar.entry.artifact,
      digest: tar.root.digest,
      bytes: result.bytes,
      sha256: result.sha256,
      blobs: blobs.length,
      contentBytes: tar.contentBytes,
      deduplicatedBlobs: tar.deduplicated.length,
      deduplicatedBytes: tar.deduplicatedBytes,
    };
  } finally {
    await prefetcher.close();
  }
}

/** What a run's tars add up to: the total row of the CLI's table and of the Action's summary. */
export type TarTotals = Pick<WrittenTar, 'blobs' | 'contentBytes' | 'bytes' | 'deduplicatedBlobs' | 'deduplicatedBytes'>;

export function totalsOf(tars: readonly WrittenTar[]): TarTotals {
  const totals: TarTotals = { blobs: 0, contentBytes: 0, bytes: 0, deduplicatedBlobs: 0, deduplicatedBytes: 0 };
  for (const tar of tars) for (const key of Object.keys(totals) as Array<keyof TarTotals>) totals[key] += tar[key];
  return totals;
}
