/**
 * The Action's Services in memory (actions/cache tests restoreImpl against a fake stateProvider likewise): a
 * cache and an artifact store that keep file contents, say what happened in order, and fail on demand.
 * Like the real ones: a cache entry is restored only to the paths it was saved from (they are part of its
 * version) and is scoped by branch (a run reads its own branch's, then the default branch's, and writes its own), a
 * lookup matches key prefixes, saves may be refused; artifact names are unique within a run (an upload
 * replaces an earlier attempt's), the listing shows every run's artifacts with the run's repository and branch,
 * expired ones too, and an expired one cannot be downloaded.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { ArtifactStore, ListedArtifact, Services, TrackerCache } from '../src/action/services.ts';

/** The repository and branch runs belong to unless a test says otherwise. */
export const MEMORY_REPOSITORY_ID = 4242;
export const MEMORY_DEFAULT_BRANCH = 'main';

export interface MemoryCacheEntry {
  key: string;
  /** The branch whose runs saved it: runs read their own branch's entries, then the default branch's. */
  scope: string;
  paths: string[];
  /** Contents of the paths that existed when it was saved. */
  files: Map<string, Buffer>;
}

export interface MemoryArtifact extends ListedArtifact {
  /** Contents by path relative to the upload's root directory. */
  files: Map<string, Buffer>;
  retentionDays: number | undefined;
}

/** Who uploads: the run, and (for a fork's pull request, another branch) where its head came from. */
export interface MemoryRun {
  id: number;
  headRepositoryId: number;
  headBranch: string;
}

export interface MemoryServices extends Services {
  /** The run uploads belong to (set it as each run starts). */
  run: MemoryRun;
  readonly entries: MemoryCacheEntry[];
  readonly artifactsStored: MemoryArtifact[];
  /** `restore KEY|miss`, `save KEY`, `refused KEY`, `upload NAME`, `delete NAME`, `download NAME`, in order. */
  readonly events: string[];
  /** The next upload of this artifact name fails (the Action sees an Error, as from a broken connection). */
  failUploadOf(name: string): void;
  /** Saves are refused (saveCache's -1: a rate limit) until this is set back to false. */
  refuseSaves: boolean;
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
  const readable = () => [...new Set([services.run.headBranch, MEMORY_DEFAULT_BRANCH])];

  const cache: TrackerCache = {
    async lookup(paths, keyPrefix) {
      for (const scope of readable()) {
        const found = entries.findLast((entry) => entry.scope === scope && entry.key.startsWith(keyPrefix) && sameVersion(entry, paths));
        if (found) return found.key;
      }
      return undefined;
    },
    async restore(paths, key) {
      const entry = readable()
        .map((scope) => entries.find((candidate) => candidate.scope === scope && candidate.key === key && sameVersion(candidate, paths)))
        .find((found) => found !== undefined);
      events.push(`restore ${entry?.key ?? 'miss'}`);
      if (!entry) return false;
      for (const [path, bytes] of entry.files) {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, bytes);
      }
      return true;
    },
    async save(paths, key) {
      const scope = services.run.headBranch;
      if (services.refuseSaves || entries.some((entry) => entry.scope === scope && entry.key === key)) {
        events.push(`refused ${key}`);
        return false;
      }
      const files = new Map<string, Buffer>();
      for (const path of paths) {
        const bytes = await readFile(path).catch(() => undefined);
        if (bytes) files.set(path, bytes);
      }
      if (files.size === 0) throw new Error(`cache save ${key}: none of ${paths.join(', ')} exists`);
      entries.push({ key, scope: services.run.headBranch, paths: [...paths], files });
      events.push(`save ${key}`);
      return true;
    },
  };

  const artifacts: ArtifactStore = {
    async upload(name, paths, rootDirectory, retentionDays) {
      const earlier = artifactsStored.findIndex((artifact) => artifact.name === name && artifact.run.id === services.run.id);
      if (earlier >= 0) {
        artifactsStored.splice(earlier, 1);
        events.push(`delete ${name}`);
      }
      await services.onUpload?.(name, paths);
      if (failing.delete(name)) throw new Error(`upload of ${name} failed: connection reset`);
      const files = new Map<string, Buffer>();
      for (const path of paths) files.set(relative(rootDirectory, path), await readFile(path));
      const id = nextId++;
      const { run } = services;
      artifactsStored.push({
        id,
        name,
        createdAt: new Date(Date.UTC(2026, 0, 1) + id * 1000).toISOString(),
        expired: false,
        run: { id: run.id, repositoryId: MEMORY_REPOSITORY_ID, headRepositoryId: run.headRepositoryId, headBranch: run.headBranch },
        files,
        retentionDays,
      });
      events.push(`upload ${name}`);
      return { id, size: [...files.values()].reduce((sum, bytes) => sum + bytes.byteLength, 0) };
    },
    async list(namePrefix) {
      return artifactsStored
        .filter((artifact) => artifact.name.startsWith(namePrefix))
        .map(({ files: _files, retentionDays: _days, ...listed }) => structuredClone(listed))
        .reverse();
    },
    async delete(name) {
      const at = artifactsStored.findIndex((artifact) => artifact.name === name && artifact.run.id === services.run.id);
      if (at < 0) throw new Error(`artifact ${name} of run ${services.run.id} not found`);
      artifactsStored.splice(at, 1);
      events.push(`delete ${name}`);
    },
    async download(listed, directory) {
      const artifact = artifactsStored.find((candidate) => candidate.id === listed.id);
      if (!artifact) throw new Error(`no artifact ${listed.id}`);
      if (artifact.expired) throw new Error(`artifact ${artifact.name} (${artifact.id}) has expired: 410 Gone`);
      for (const [path, bytes] of artifact.files) {
        await mkdir(dirname(join(directory, path)), { recursive: true });
        await writeFile(join(directory, path), bytes);
      }
      events.push(`download ${artifact.name}`);
    },
  };

  const services: MemoryServices = {
    run: { id: 1, headRepositoryId: MEMORY_REPOSITORY_ID, headBranch: MEMORY_DEFAULT_BRANCH },
    entries,
    artifactsStored,
    events,
    refuseSaves: false,
    onUpload: undefined,
    failUploadOf: (name) => failing.add(name),
    cache,
    artifacts,
  };
  return services;
}
