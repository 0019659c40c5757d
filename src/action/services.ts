import * as cache from '@actions/cache';
import { DefaultArtifactClient } from '@actions/artifact';
import { request } from 'undici';
import { InputError } from '../core/input-error.ts';
import { Inputs } from './constants.ts';

/**
 * The side effects of the Action (actions/cache's stateProvider idea): the cache that keeps the tracker, and
 * the artifact store that carries the tars. One implementation over the real services; the orchestration
 * never touches @actions/cache or @actions/artifact itself.
 */
export interface TrackerCache {
  /** Restores the newest entry whose key starts with `prefix`; its key, or undefined on a miss. */
  restore(paths: string[], prefix: string): Promise<string | undefined>;
  /** The key a restore would pick now, without downloading. */
  newestKey(paths: string[], prefix: string): Promise<string | undefined>;
  save(paths: string[], key: string): Promise<void>;
}

export interface StoredArtifact {
  id: number;
  runId: number;
  createdAt: string;
}

export interface ArtifactStore {
  upload(name: string, files: string[], rootDirectory: string, retentionDays: number | undefined): Promise<{ id: number; size: number }>;
  /** The newest unexpired artifact of that name in the repository, from any run. */
  findNewest(name: string): Promise<StoredArtifact | undefined>;
  download(artifact: StoredArtifact, directory: string): Promise<void>;
}

export interface Services {
  cache: TrackerCache;
  artifacts: ArtifactStore;
}

export function githubServices(options: { token: string; repository: string; apiUrl: string }): Services {
  const [owner = '', repo = ''] = options.repository.split('/');
  const client = new DefaultArtifactClient();
  return {
    cache: {
      restore: (paths, prefix) => cache.restoreCache(paths, `${prefix}-`, [`${prefix}-`]),
      newestKey: (paths, prefix) => cache.restoreCache(paths, `${prefix}-`, [`${prefix}-`], { lookupOnly: true }),
      async save(paths, key) {
        await cache.saveCache(paths, key);
      },
    },
    artifacts: {
      async upload(name, files, rootDirectory, retentionDays) {
        const response = await client.uploadArtifact(name, files, rootDirectory, {
          compressionLevel: 0,
          ...(retentionDays === undefined ? {} : { retentionDays }),
        });
        if (response.id === undefined) throw new Error(`artifact ${name}: the upload returned no artifact id`);
        return { id: response.id, size: response.size ?? 0 };
      },
      async findNewest(name) {
        if (!options.token) {
          throw new InputError(`input ${Inputs.GithubToken} is empty: it is needed to find tracker artifacts of earlier runs`);
        }
        const url = new URL(`${options.apiUrl}/repos/${owner}/${repo}/actions/artifacts`);
        url.searchParams.set('name', name);
        url.searchParams.set('per_page', '100');
        const response = await request(url, {
          headers: {
            authorization: `Bearer ${options.token}`,
            accept: 'application/vnd.github+json',
            'x-github-api-version': '2022-11-28',
            'user-agent': 'batch-serialize',
          },
        });
        if (response.statusCode !== 200) {
          const body = await response.body.text();
          throw new Error(`GET ${url.origin}${url.pathname}?name=${name}: ${response.statusCode} ${body.slice(0, 200)}`);
        }
        const listing = (await response.body.json()) as {
          artifacts: Array<{ id: number; expired: boolean; created_at: string; workflow_run?: { id?: number } }>;
        };
        const newest = listing.artifacts
          .filter((artifact) => !artifact.expired && artifact.workflow_run?.id !== undefined)
          .sort((a, b) => b.created_at.localeCompare(a.created_at))[0];
        return newest && { id: newest.id, runId: newest.workflow_run?.id as number, createdAt: newest.created_at };
      },
      async download(artifact, directory) {
        await client.downloadArtifact(artifact.id, {
          path: directory,
          findBy: { token: options.token, workflowRunId: artifact.runId, repositoryOwner: owner, repositoryName: repo },
        });
      },
    },
  };
}
