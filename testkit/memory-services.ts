/**
 * The Action's Services in memory (actions/cache tests restoreImpl against a fake stateProvider likewise): a
 * cache and an artifact store that keep file contents, say what happened in order, and fail uploads on demand.
 * Like the real ones, a cache entry is restored only to the paths it was saved from (they are part of its
 * version), artifact names are unique within a run, and findNewest sees every run's artifacts.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { ArtifactStore, Services, StoredArtifact, TrackerCache } from '../src/action/services.ts';

export interface MemoryCacheEntry {
  key: string;
  paths: string[];
  /** Contents of the paths that existed when it was saved. */
  files: Map<string, Buffer>;
}

export interface MemoryArtifact extends StoredArtifact {
  name: string;
  /** Contents by path relative to the upload's root directory. */
  files: Map<string, Buffer>;
  retentionDays: number | undefined;
}

export interface MemoryServices extends Services {
  /** The run uploads belong to (set it as each run starts). */
  runId: number;
  readonly entries: MemoryCacheEntry[];
  readonly artifactsStored: MemoryArtifact[];
  /** `restore KEY|miss`, `save KEY`, `upload NAME`, `download NAME`, in the order they happened. */
  readonly events: string[];
  /** The next upload of this artifact name fails (the Action sees an Error, as from a broken connection). */
  failUploadOf(name: string): void;
  /** Called at each upload, before it is stored: lets a test look at the disk at that moment. */
  onUpload: ((name: string, files: string[]) => Promise<void>) | undefined;
}

export function memoryServices(): MemoryServices {
  const entries: MemoryCacheEntry[] = [];
  const artifactsStored: MemoryArtifact[] = [];
  const events: string[] = [];
  const failing = new Set<string>();
  let nextId = 1;

  const sameVersion = (entry: MemoryCacheEntry, paths: string[]) => entry.paths.join('\n') === paths.join('\n');
  const newest = (paths: string[], prefix: string) =>
    entries.findLast((entry) => entry.key.startsWith(`${prefix}-`) && sameVersion(entry, paths));

  const cache: TrackerCache = {
    async restore(paths, prefix) {
      const entry = newest(paths, prefix);
      events.push(`restore ${entry?.key ?? 'miss'}`);
      if (!entry) return undefined;
      for (const [path, bytes] of entry.files) {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, bytes);
      }
      return entry.key;
    },
    async newestKey(paths, prefix) {
      return newest(paths, prefix)?.key;
    },
    async save(paths, key) {
      if (entries.some((entry) => entry.key === key)) throw new Error(`cache entry ${key} exists already`);
      const files = new Map<string, Buffer>();
      for (const path of paths) {
        const bytes = await readFile(path).catch(() => undefined);
        if (bytes) files.set(path, bytes);
      }
      if (files.size === 0) throw new Error(`cache save ${key}: none of ${paths.join(', ')} exists`);
      entries.push({ key, paths: [...paths], files });
      events.push(`save ${key}`);
    },
  };

  const artifacts: ArtifactStore = {
    async upload(name, paths, rootDirectory, retentionDays) {
      if (artifactsStored.some((artifact) => artifact.name === name && artifact.runId === services.runId)) {
        throw new Error(`artifact ${name} exists in run ${services.runId} already`);
      }
      await services.onUpload?.(name, paths);
      if (failing.delete(name)) throw new Error(`upload of ${name} failed: connection reset`);
      const files = new Map<string, Buffer>();
      for (const path of paths) files.set(relative(rootDirectory, path), await readFile(path));
      const id = nextId++;
      artifactsStored.push({ id, name, runId: services.runId, createdAt: new Date(Date.now() + id).toISOString(), files, retentionDays });
      events.push(`upload ${name}`);
      return { id, size: [...files.values()].reduce((sum, bytes) => sum + bytes.byteLength, 0) };
    },
    async findNewest(name) {
      const artifact = artifactsStored.findLast((stored) => stored.name === name);
      return artifact && { id: artifact.id, runId: artifact.runId, createdAt: artifact.createdAt };
    },
    async download(stored, directory) {
      const artifact = artifactsStored.find((candidate) => candidate.id === stored.id);
      if (!artifact) throw new Error(`no artifact ${stored.id}`);
      for (const [path, bytes] of artifact.files) {
        await mkdir(dirname(join(directory, path)), { recursive: true });
        await writeFile(join(directory, path), bytes);
      }
      events.push(`download ${artifact.name}`);
    },
  };

  const services: MemoryServices = {
    runId: 1,
    entries,
    artifactsStored,
    events,
    onUpload: undefined,
    failUploadOf: (name) => failing.add(name),
    cache,
    artifacts,
  };
  return services;
}
