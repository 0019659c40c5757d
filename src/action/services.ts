import * as cache from '@actions/cache';
import { DefaultArtifactClient } from '@actions/artifact';
import { InputError } from '../core/input-error.ts';
import { ArtifactsApi, type RestArtifact } from '../github/artifacts-api.ts';
import { Inputs } from './constants.ts';

/** An artifact of any run, as the Action decides trust on it: the run that uploaded it and where its head came from. */
export interface ListedArtifact {
  id: number;
  name: string;
  createdAt: string;
  /** Listed until GitHub purges it, but no longer downloadable. */
  expired: boolean;
  run: { id: number; repositoryId: number | undefined; headRepositoryId: number | undefined; headBranch: string | undefined };
}

/**
 * The side effects of the Action (actions/cache's stateProvider idea): the cache that keeps the tracker, and
 * the artifact store that carries the tars. One implementation over the real services; the orchestration
 * never touches @actions/cache or @actions/artifact itself.
 */
export interface TrackerCache {
  /**
   * The key of the newest entry whose key starts with `keyPrefix` in the scopes this run may read (its own ref's,
   * then the default branch's), without downloading it.
   */
  lookup(paths: string[], keyPrefix: string): Promise<string | undefined>;
  /** Restores the entry saved under exactly `key`; false when there is none. */
  restore(paths: string[], key: string): Promise<boolean>;
  /** Saves under `key`; false when the service refused it (rate limit, an event that may not write): the library only warns. */
  save(paths: string[], key: string): Promise<boolean>;
}

export interface ArtifactStore {
  /** Uploads into this run, replacing an artifact of the same name that an earlier attempt of this run uploaded. */
  upload(name: string, files: string[], rootDirectory: string, retentionDays: number | undefined): Promise<{ id: number; size: number }>;
  /** Every artifact of the repository whose name starts with `namePrefix`, of every run, expired ones included. */
  list(namePrefix: string): Promise<ListedArtifact[]>;
  download(artifact: ListedArtifact, directory: string): Promise<void>;
  /** Deletes this run's artifact of that name (a failed shard withdraws the tars it uploaded). */
  delete(name: string): Promise<void>;
}

export interface Services {
  cache: TrackerCache;
  artifacts: ArtifactStore;
}

export function githubServices(options: { token: string; repository: string; apiUrl: string }): Services {
  const [owner = '', repo = ''] = options.repository.split('/');
  const client = new DefaultArtifactClient();
  const token = () => {
    if (!options.token) throw new InputError(`input ${Inputs.GithubToken} is empty: it is needed to list the artifacts of earlier runs`);
    return options.token;
  };
  return {
    cache: {
      lookup: (paths, keyPrefix) => cache.restoreCache(paths, keyPrefix, [keyPrefix], { lookupOnly: true }),
      async restore(paths, key) {
        return (await cache.restoreCache(paths, key)) === key;
      },
      async save(paths, key) {
        return (await cache.saveCache(paths, key)) !== -1;
      },
    },
    artifacts: {
      async upload(name, files, rootDirectory, retentionDays) {
        // upload-artifact's `overwrite`: names are unique within a run, across its attempts.
        const earlier = await client.getArtifact(name).catch(() => undefined);
        if (earlier !== undefined) await client.deleteArtifact(name);
        // The toolkit's messages name no artifact ("upload refused …"): a tar in parts uploads several.
        const response = await client
          .uploadArtifact(name, files, rootDirectory, { compressionLevel: 0, ...(retentionDays === undefined ? {} : { retentionDays }) })
          .catch((error: unknown) => {
            throw new Error(`artifact ${name}: the upload failed: ${(error as Error).message}`, { cause: error });
          });
        if (response.id === undefined) throw new Error(`artifact ${name}: the upload returned no artifact id`);
        return { id: response.id, size: response.size ?? 0 };
      },
      async list(namePrefix) {
        const api = new ArtifactsApi({ apiUrl: options.apiUrl, repository: options.repository, token: token() });
        try {
          return (await api.listAll()).filter((artifact) => artifact.name.startsWith(namePrefix)).map(listed);
        } finally {
          await api.close();
        }
      },
      async delete(name) {
        await client.deleteArtifact(name);
      },
      async download(artifact, directory) {
        await client.downloadArtifact(artifact.id, {
          path: directory,
          findBy: { token: token(), workflowRunId: artifact.run.id, repositoryOwner: owner, repositoryName: repo },
        });
      },
    },
  };
}

function listed(artifact: RestArtifact): ListedArtifact {
  const run = artifact.workflowRun;
  return {
    id: artifact.id,
    name: artifact.name,
    createdAt: artifact.createdAt,
    expired: artifact.expired,
    run: {
      id: run?.id ?? 0,
      repositoryId: run?.repositoryId,
      headRepositoryId: run?.headRepositoryId,
      headBranch: run?.headBranch ?? undefined,
    },
  };
}
