/**
 * The slice of GitHub's REST API that finds and fetches artifacts of other runs: what @actions/artifact calls with
 * `findBy` (octokit, `Authorization: token <t>`), and the repository-wide list a workflow uses to find the newest
 * artifact of an earlier run. Answers in GitHub's JSON shapes; every route needs the server's token.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Artifact, ArtifactService } from './artifact-service.ts';
import { sendJson } from './http.ts';

export interface RestContext {
  artifacts: ArtifactService;
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

  const route = /^\/repos\/([^/]+)\/([^/]+)\/actions\/(?:runs\/(\d+)\/artifacts|artifacts(?:\/(\d+)(?:\/([^/]+))?)?)$/.exec(url.pathname);
  if (route === null) return notFound(res);
  const [, owner, repo, runId, artifactId, archiveFormat] = route;
  const repository = `${decodeURIComponent(owner!)}/${decodeURIComponent(repo!)}`;
  const method = req.method ?? '';

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
      artifacts: listed.slice((page - 1) * perPage, page * perPage).map((a) => restArtifact(a, context.apiUrl)),
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
  if (method === 'GET') return sendJson(res, 200, restArtifact(artifact, context.apiUrl));
  if (method === 'DELETE') {
    await context.artifacts.delete(artifact);
    return void res.writeHead(204).end();
  }
  return notFound(res);
}

function notFound(res: ServerResponse): void {
  sendJson(res, 404, { message: 'Not Found', documentation_url: docs, status: '404' });
}

function restArtifact(a: Artifact, apiUrl: string): Record<string, unknown> {
  const url = `${apiUrl}/repos/${a.repository}/actions/artifacts/${a.id}`;
  const repositoryId = numberFrom(a.repository);
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
      repository_id: repositoryId,
      head_repository_id: repositoryId,
      head_branch: 'main',
      head_sha: createHash('sha1').update(`${a.repository} ${a.runId}`).digest('hex'),
    },
  };
}

/** GitHub writes times to the second: 2024-01-02T03:04:05Z. */
function githubTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function numberFrom(text: string): number {
  return createHash('sha256').update(text).digest().readUIntBE(0, 4);
}
