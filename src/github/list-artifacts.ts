import { request } from 'undici';

/** An artifact as GitHub's REST API lists it, with the run that uploaded it (what trust is decided on). */
export interface ListedArtifact {
  id: number;
  name: string;
  createdAt: string;
  /** Listed until GitHub purges it, but no longer downloadable. */
  expired: boolean;
  run: {
    id: number;
    /** The repository the run belongs to, and the one its head commit came from (a fork's, for a fork's pull request). */
    repositoryId: number | undefined;
    headRepositoryId: number | undefined;
    headBranch: string | undefined;
  };
}

export interface RestOptions {
  /** `https://api.github.com` */
  apiUrl: string;
  /** `owner/name` */
  repository: string;
  token: string;
}

interface RestArtifact {
  id: number;
  name: string;
  created_at: string;
  expired: boolean;
  workflow_run?: { id?: number; repository_id?: number; head_repository_id?: number; head_branch?: string } | null;
}

const PAGE = 100;

/**
 * Every artifact of the repository whose name starts with `namePrefix`, of every run, expired ones included: the
 * listing's pages in order (`GET /repos/{owner}/{repo}/actions/artifacts`, newest first).
 */
export async function listArtifacts(options: RestOptions, namePrefix: string): Promise<ListedArtifact[]> {
  const found: ListedArtifact[] = [];
  for (let page = 1; ; page++) {
    const url = new URL(`${options.apiUrl.replace(/\/+$/, '')}/repos/${options.repository}/actions/artifacts`);
    url.searchParams.set('per_page', String(PAGE));
    url.searchParams.set('page', String(page));
    const response = await request(url, {
      headers: {
        authorization: `Bearer ${options.token}`,
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
        'user-agent': 'batch-serialize',
      },
    });
    if (response.statusCode !== 200) {
      const body = (await response.body.text()).slice(0, 200);
      const hint = response.statusCode === 403 || response.statusCode === 404 ? ' (the token needs `actions: read`)' : '';
      throw new Error(`GET ${url.origin}${url.pathname}: ${response.statusCode}${hint} ${body}`);
    }
    const listing = (await response.body.json()) as { artifacts?: RestArtifact[] };
    const artifacts = listing.artifacts ?? [];
    for (const artifact of artifacts) if (artifact.name.startsWith(namePrefix)) found.push(listed(artifact));
    if (artifacts.length < PAGE) return found;
  }
}

function listed(artifact: RestArtifact): ListedArtifact {
  const run = artifact.workflow_run ?? {};
  return {
    id: artifact.id,
    name: artifact.name,
    createdAt: artifact.created_at,
    expired: artifact.expired,
    run: { id: run.id ?? 0, repositoryId: run.repository_id, headRepositoryId: run.head_repository_id, headBranch: run.head_branch },
  };
}
