import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, request, type Dispatcher } from '../core/undici.ts';
import {
  describeError,
  isRetryableStatus,
  isTransientError,
  retryAfterMs,
  retryDelayMs,
  retryPolicy,
  waitBeforeRetry,
  type RetryOptions,
  type RetryPolicy,
} from '../core/registry/retry.ts';
import { discard, readCapped } from '../core/streams.ts';
import { checkApiUrl } from './api-url.ts';

/**
 * The workflow artifacts of a repository through GitHub's REST API, with undici: the repository-wide list (every
 * run's artifacts) and the download of one as its zip. The token goes to the API's host only: the zip endpoint
 * answers with a redirect to a signed URL on another host, which is followed without it. No message carries the
 * token or a signed URL's query, only hosts, paths, artifact names and ids.
 */
export interface RestArtifact {
  id: number;
  name: string;
  sizeInBytes: number;
  expired: boolean;
  createdAt: string;
  /** The run that uploaded it; absent when GitHub does not say. */
  workflowRun: { id: number; headBranch: string | null; repositoryId: number; headRepositoryId: number } | undefined;
}

export interface ArtifactsApiOptions {
  /** `https://api.github.com`, or a GitHub Enterprise Server's `https://HOST/api/v3`. */
  apiUrl: string;
  /** `OWNER/NAME`. */
  repository: string;
  token: string;
  retry?: RetryOptions;
}

/** What went wrong talking to GitHub, naming the host and what was asked, never the token. */
export class GitHubApiError extends Error {
  readonly status: number | undefined;

  constructor(message: string, status?: number) {
    super(message);
    this.name = 'GitHubApiError';
    this.status = status;
  }
}

/** The artifact's download is gone for good (410): it expired, or was expired by hand. */
export class ArtifactExpiredError extends GitHubApiError {
  constructor(message: string) {
    super(message, 410);
    this.name = 'ArtifactExpiredError';
  }
}

const PER_PAGE = 100;
/** Far more artifacts than a repository keeps (GitHub deletes them after retention): a guard against a server that never ends a listing. */
const MAX_PAGES = 10_000;
const ERROR_BODY_BYTES = 64 * 1024;
const LISTING_BYTES = 64 * 1024 * 1024;

export class ArtifactsApi {
  /** The API's host, for messages. */
  readonly host: string;
  private readonly base: string;
  private readonly repository: string;
  private readonly token: string;
  private readonly retry: RetryPolicy;
  private readonly agent = new Agent();

  constructor(options: ArtifactsApiOptions) {
    const url = checkApiUrl(options.apiUrl);
    this.host = url.host;
    this.base = url.href.replace(/\/+$/, '');
    this.repository = options.repository;
    this.token = options.token;
    this.retry = retryPolicy(options.retry);
  }

  /** Every artifact of the repository, of every run, expired ones included, page by page. */
  async listAll(): Promise<RestArtifact[]> {
    // By id: an artifact uploaded while we page shifts the others, and one may be listed twice.
    const all = new Map<number, RestArtifact>();
    for (let page = 1; page <= MAX_PAGES; page++) {
      const path = `/repos/${this.repository}/actions/artifacts?per_page=${PER_PAGE}&page=${page}`;
      const body = await this.getJson(path);
      const { total, artifacts } = parseListing(body, `${this.host}: GET ${path}`);
      for (const artifact of artifacts) all.set(artifact.id, artifact);
      if (artifacts.length < PER_PAGE || page * PER_PAGE >= total) return [...all.values()];
    }
    throw new GitHubApiError(`${this.host}: the artifact list of ${this.repository} did not end after ${MAX_PAGES} pages`);
  }

  /** The repository's default branch: the only branch whose tracker artifacts are believed (as the Action does). */
  async defaultBranch(): Promise<string> {
    const path = `/repos/${this.repository}`;
    const branch = ((await this.getJson(path)) as { default_branch?: unknown } | null)?.default_branch;
    if (typeof branch !== 'string' || branch === '')
      throw new GitHubApiError(`${this.host}: GET ${path}: the answer names no default_branch`);
    return branch;
  }

  /**
   * Downloads an artifact's zip into `path` (created; removed again on failure). A transient failure starts the
   * download over, from a fresh redirect (the signed URL lives a minute).
   */
  async downloadZip(artifact: { id: number; name: string }, path: string, progress?: (bytes: number) => void): Promise<number> {
    const what = `artifact ${artifact.name} (id ${artifact.id})`;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.downloadOnce(artifact, path, what, progress);
      } catch (error) {
        await rm(path, { force: true });
        const status = error instanceof GitHubApiError ? error.status : undefined;
        const retryable = status === undefined ? isTransientError(error) : isRetryableStatus(status);
        if (!retryable || attempt >= this.retry.attempts) {
          throw error instanceof GitHubApiError ? error : new GitHubApiError(`${what}: download failed: ${describeError(error)}`);
        }
        const delayMs = retryDelayMs(this.retry, attempt, undefined);
        await waitBeforeRetry(this.retry, { what: `download of ${what}`, attempt, delayMs, reason: describeError(error) });
      }
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async downloadOnce(
    artifact: { id: number; name: string },
    path: string,
    what: string,
    progress: ((bytes: number) => void) | undefined,
  ): Promise<number> {
    const apiPath = `/repos/${this.repository}/actions/artifacts/${artifact.id}/zip`;
    let response = await this.send(this.base + apiPath, true);
    if (response.statusCode === 302 || response.statusCode === 301 || response.statusCode === 307) {
      const location = response.headers.location;
      discard(response.body);
      if (typeof location !== 'string') throw new GitHubApiError(`${what}: ${this.host}: GET ${apiPath}: a redirect without a location`);
      const target = new URL(location, this.base + apiPath);
      // The signed URL carries its own authority: the token stays with the API.
      response = await this.send(target.href, false);
      if (response.statusCode !== 200) throw await statusError(response, `${what}: download from ${target.host}`);
    } else if (response.statusCode !== 200) {
      const error = await statusError(response, `${what}: ${this.host}: GET ${apiPath}`);
      if (response.statusCode === 410) throw new ArtifactExpiredError(error.message);
      throw error;
    }
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.byteLength;
        progress?.(bytes);
        done(null, chunk);
      },
    });
    await pipeline(response.body, count, createWriteStream(path, { flags: 'wx' }));
    return bytes;
  }

  private async getJson(path: string): Promise<unknown> {
    const what = `${this.host}: GET ${path}`;
    for (let attempt = 1; ; attempt++) {
      let response: Dispatcher.ResponseData;
      try {
        response = await this.send(this.base + path, true);
      } catch (error) {
        if (!isTransientError(error) || attempt >= this.retry.attempts) throw new GitHubApiError(`${what}: ${describeError(error)}`);
        await waitBeforeRetry(this.retry, {
          what,
          attempt,
          delayMs: retryDelayMs(this.retry, attempt, undefined),
          reason: describeError(error),
        });
        continue;
      }
      if (response.statusCode === 200) {
        const text = await readCapped(
          response.body,
          LISTING_BYTES,
          () => new GitHubApiError(`${what}: the answer is over ${LISTING_BYTES} bytes`),
        );
        try {
          return JSON.parse(text.toString('utf8')) as unknown;
        } catch (error) {
          throw new GitHubApiError(`${what}: the answer is not JSON: ${(error as Error).message}`);
        }
      }
      const error = await statusError(response, what);
      if (!isRetryableStatus(response.statusCode) || attempt >= this.retry.attempts) throw error;
      const delayMs = retryDelayMs(this.retry, attempt, retryAfterMs(response.headers['retry-after']));
      await waitBeforeRetry(this.retry, { what, attempt, delayMs, reason: String(response.statusCode) });
    }
  }

  private send(url: string, withToken: boolean): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { 'user-agent': 'batch-serialize' };
    if (withToken) {
      headers.authorization = `Bearer ${this.token}`;
      headers.accept = 'application/vnd.github+json';
      headers['x-github-api-version'] = '2022-11-28';
    }
    const { origin, pathname, search } = new URL(url);
    return request(this.agent, { origin, path: pathname + search, method: 'GET', headers });
  }
}

/** `HOST: GET PATH: 401 Bad credentials`: GitHub's JSON `message` when there is one, else the start of the body. */
async function statusError(response: Dispatcher.ResponseData, what: string): Promise<GitHubApiError> {
  let detail = '';
  try {
    const text = (await readCapped(response.body, ERROR_BODY_BYTES, () => new Error('long'))).toString('utf8');
    try {
      const message = (JSON.parse(text) as { message?: unknown }).message;
      detail = typeof message === 'string' ? message : text;
    } catch {
      detail = text;
    }
  } catch {
    detail = '';
  }
  detail = detail.replace(/\s+/g, ' ').trim().slice(0, 200);
  const hint = response.statusCode === 401 ? ' (is GITHUB_TOKEN or GH_TOKEN valid?)' : '';
  return new GitHubApiError(`${what}: ${response.statusCode}${detail === '' ? '' : ` ${detail}`}${hint}`, response.statusCode);
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** GitHub's listing, checked field by field: a shape we do not know is an error, not a guess. */
export function parseListing(body: unknown, what: string): { total: number; artifacts: RestArtifact[] } {
  const listing = body as { total_count?: unknown; artifacts?: unknown };
  if (listing === null || typeof listing !== 'object' || !isCount(listing.total_count) || !Array.isArray(listing.artifacts)) {
    throw new GitHubApiError(`${what}: the answer is not { total_count, artifacts: [...] }`);
  }
  const artifacts = listing.artifacts.map((item: unknown, index): RestArtifact => {
    const a = item as Record<string, unknown>;
    if (
      a === null ||
      typeof a !== 'object' ||
      !isCount(a.id) ||
      typeof a.name !== 'string' ||
      !isCount(a.size_in_bytes) ||
      typeof a.expired !== 'boolean' ||
      typeof a.created_at !== 'string'
    ) {
      throw new GitHubApiError(`${what}: artifacts[${index}] is not { id, name, size_in_bytes, expired, created_at, ... }`);
    }
    const run = a.workflow_run as Record<string, unknown> | null | undefined;
    const known =
      run !== null && typeof run === 'object' && isCount(run.id) && isCount(run.repository_id) && isCount(run.head_repository_id);
    return {
      id: a.id,
      name: a.name,
      sizeInBytes: a.size_in_bytes,
      expired: a.expired,
      createdAt: a.created_at,
      workflowRun: known
        ? {
            id: run.id as number,
            headBranch: typeof run.head_branch === 'string' ? run.head_branch : null,
            repositoryId: run.repository_id as number,
            headRepositoryId: run.head_repository_id as number,
          }
        : undefined,
    };
  });
  return { total: listing.total_count, artifacts };
}
