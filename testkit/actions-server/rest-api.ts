/**
 * The slice of GitHub's REST API that finds and fetches artifacts of other runs: what @actions/artifact calls with
 * `findBy` (octokit, `Authorization: token <t>`), the repository-wide list a workflow uses to find the newest
 * artifact of an earlier run (expired ones included, `expired: true`, as GitHub lists them until they are purged;
 * their zip is 410 Gone), and `GET /repos/{owner}/{repo}` for the repository's id and default branch. Answers in
 * GitHub's JSON shapes; every route needs the server's token.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Artifact, ArtifactService } from './artifact-service.ts';
import { sendJson } from './http.ts';
import type { Repositories, RepositoryInfo } from './repositories.ts';

export interface RestContext {
  artifacts: ArtifactService;
  repositories: Repositories;
  /** The token REST callers must present. */
  token: string;
  /** `http://127.0.0.1:PORT`, which is also GITHUB_API_URL. */
  apiUrl: string;
}

const docs = 'https://docs.github.com/rest/actions/artifacts';

export async function handleRest(req: IncomingMessage, res: ServerResponse, url: URL, context: RestContext): Promise<void> {
  const auth = /^(?:token|bearer) (.+)$/i.exec(req.headers.authorization ?? '');
  if (auth?.[1] !== context.token)
    return sendJson(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });

  const method = req.method ?? '';
  const repoRoute = /^\/repos\/([^/]+)\/([^/]+)$/.exec(url.pathname);
  if (repoRoute !== null) {
    const known = context.repositories.get(`${decodeURIComponent(repoRoute[1]!)}/${decodeURIComponent(repoRoute[2]!)}`);
    if (method !== 'GET' || known === undefined) return notFound(res, 'https://docs.github.com/rest/repos/repos#get-a-repository');
    return sendJson(res, 200, restRepository(known, context.apiUrl));
  }
  const route = /^\/repos\/([^/]+)\/([^/]+)\/actions\/(?:runs\/(\d+)\/artifacts|artifacts(?:\/(\d+)(?:\/([^/]+))?)?)$/.exec(url.pathname);
  if (route === null) return notFound(res);
  const [, owner, repo, runId, artifactId, archiveFormat] = route;
  const repository = `${decodeURIComponent(owner!)}/${decodeURIComponent(repo!)}`;

  if (artifactId === undefined) {
    if (method !== 'GET') return notFound(res);
    const name = url.searchParams.get('name');
    const listed = context.artifacts
      .all()
      .filter(
        (a) =>
          a.finalized &&
          a.repository === repository &&
          (runId === undefined || a.runId === Number(runId)) &&
          (name === null || a.name === name),
      )
      .sort((a, b) => b.id - a.id);
    const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30) || 30, 100);
    const page = Math.max(Number(url.searchParams.get('page') ?? 1) || 1, 1);
    return sendJson(res, 200, {
      total_count: listed.length,
      artifacts: listed.slice((page - 1) * perPage, page * perPage).map((a) => restArtifact(a, context)),
    });
  }

  const artifact = context.artifacts.byId(Number(artifactId));
  if (artifact === undefined || !artifact.finalized || artifact.repository !== repository) return notFound(res);
  if (archiveFormat !== undefined) {
    if (method !== 'GET' || archiveFormat !== 'zip') return notFound(res);
    if (artifact.expired) return sendJson(res, 410, { message: 'Artifact has expired', documentation_url: docs, status: '410' });
    res.writeHead(302, { location: context.artifacts.downloadUrl(artifact), 'content-length': 0 }).end();
    return;
  }
  if (method === 'GET') return sendJson(res, 200, restArtifact(artifact, context));
  if (method === 'DELETE') {
    await context.artifacts.delete(artifact);
    return void res.writeHead(204).end();
  }
  return notFound(res);
}

function notFound(res: ServerResponse, documentation = docs): void {
  sendJson(res, 404, { message: 'Not Found', documentation_url: documentation, status: '404' });
}

function restRepository(r: RepositoryInfo, apiUrl: string): Record<string, unknown> {
  const [owner, name] = r.fullName.split('/') as [string, string];
  return {
    id: r.id,
    node_id: Buffer.from(`010:Repository${r.id}`).toString('base64'),
    name,
    full_name: r.fullName,
    owner: { login: owner, type: 'Organization' },
    private: false,
    fork: r.fork,
    url: `${apiUrl}/repos/${r.fullName}`,
    default_branch: r.defaultBranch,
  };
}

function restArtifact(a: Artifact, context: RestContext): Record<string, unknown> {
  const url = `${context.apiUrl}/repos/${a.repository}/actions/artifacts/${a.id}`;
  const idOf = (fullName: string): number => context.repositories.add(fullName).id;
  return {
    id: a.id,
    node_id: Buffer.from(`010:Artifact${a.id}`).toString('base64'),
    name: a.name,
    size_in_bytes: a.size,
    url,
    archive_download_url: `${url}/zip`,
    expired: a.expired,
    digest: a.digest ?? null,
    created_at: githubTime(a.createdAt),
    updated_at: githubTime(a.updatedAt),
    expires_at: githubTime(a.expiresAt),
    workflow_run: {
      id: a.runId,
      repository_id: idOf(a.repository),
      head_repository_id: idOf(a.headRepository),
      head_branch: a.headBranch,
      head_sha: createHash('sha1').update(`${a.repository} ${a.runId}`).digest('hex'),
    },
  };
}

/** GitHub writes times to the second: 2024-01-02T03:04:05Z. */
function githubTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
