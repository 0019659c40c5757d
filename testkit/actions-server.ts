/**
 * A loopback stand-in for the GitHub Actions services that @actions/cache (v6), @actions/artifact (v6) and
 * @actions/core (v3) talk to, so tests run those libraries for real: the Results twirp services (CacheService v2,
 * ArtifactService v2), Azure-style blob storage behind the signed URLs they hand out, and the REST routes that list
 * and download artifacts of other runs. It models workflow runs (an artifact belongs to the run whose runtime
 * token uploaded it; names are unique within a run across its attempts), the branch scopes of the cache (the
 * runtime token's `ac` claim: a run writes into its own ref and reads its own ref, then a pull request's base
 * branch, then the default branch), can refuse uploads on demand (rate limits included), evict cache entries,
 * expire artifacts, and shows its state to tests.
 *
 * Library quirks the env has to respect (see `env()` and `applyEnv()`):
 * - @actions/github, under @actions/artifact, reads GITHUB_API_URL when first imported: set the env before the first
 *   `import('@actions/artifact')` of a test file, or REST calls (`findBy`) go to api.github.com.
 * - GITHUB_SERVER_URL must not name another host: both libraries then switch to GHES mode (cache v1, no artifacts).
 * - @actions/cache hashes the path patterns given to saveCache/restoreCache into the entry's version, and matches
 *   relative patterns against process.cwd() (a runner's cwd is GITHUB_WORKSPACE): give absolute paths, which stay
 *   the same from run to run here as on hosted runners.
 * - everything else is read from process.env at call time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactService, type ArtifactInfo } from './actions-server/artifact-service.ts';
import { BlobStore } from './actions-server/blob-store.ts';
import { CacheService, type CacheEntryInfo } from './actions-server/cache-service.ts';
import { Faults, type UploadFault, type UploadTarget } from './actions-server/faults.ts';
import { readBody, sendJson } from './actions-server/http.ts';
import { Repositories, type RepositoryInfo } from './actions-server/repositories.ts';
import { handleRest } from './actions-server/rest-api.ts';
import { CacheRead, CacheWrite, RuntimeTokens, type CacheScope, type RunIdentity } from './actions-server/runs.ts';
import { parseMessage, sendTwirpError, TwirpError } from './actions-server/twirp.ts';

export type { ArtifactInfo, CacheEntryInfo, CacheScope, RepositoryInfo, UploadFault };

export interface ActionsServerOptions {
  /** `owner/name` runs belong to unless `env()` says otherwise (default `octo-org/octo-repo`). */
  repository?: string;
  /** The default branch of that repository (default `main`): every run may read its cache scope. */
  defaultBranch?: string;
}

export interface PullRequestOptions {
  number: number;
  /** The branch it merges into; default the repository's default branch. Its runs may read its cache scope. */
  base?: string;
  /** Its head branch (a run's `head_branch`); default `pr-<number>`. */
  head?: string;
  /** `owner/name` the head branch lives in; default the repository itself. Another name makes it a fork's. */
  headRepository?: string;
}

export interface RunOptions {
  runId: number;
  /** Default 1. Attempts of a run share its artifacts, as on GitHub. */
  attempt?: number;
  /** `owner/name`; default the server's. */
  repository?: string;
  /** GITHUB_WORKSPACE; default `<server dir>/work/<repo>/<repo>`, the same for every run of the repository. */
  workspace?: string;
  /**
   * GITHUB_EVENT_NAME; default `pull_request` with `pullRequest`, else `schedule`. Without `pullRequest` the event
   * changes only the name and the payload (a bare `pull_request` keeps the default branch's ref, as before).
   * `pull_request_target` and `issue_comment` on the default branch get a read-only cache token, as GitHub issues.
   */
  event?: string;
  /**
   * GITHUB_REF of a run that is not a pull request's merge: `refs/heads/<branch>` or `refs/tags/<tag>`; default
   * the default branch (a `pull_request_target` run: the base branch).
   */
  ref?: string;
  /**
   * A pull request's run: a `pull_request` (or `pull_request_review*`) event runs on `refs/pull/<n>/merge`, saves
   * into that scope and reads it, then the base branch, then the default branch; GITHUB_HEAD_REF/BASE_REF and
   * the payload's `pull_request` are set.
   */
  pullRequest?: PullRequestOptions;
  /** The `ac` claim as given, instead of the scopes GitHub derives from the ref and event. */
  cacheScopes?: CacheScope[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** Undefined while unanswered, and for good when the client hung up first (an upload it aborted). */
  status: number | undefined;
}

export interface ActionsServer {
  /** `http://127.0.0.1:PORT`: ACTIONS_RESULTS_URL (with a trailing slash), GITHUB_API_URL. */
  readonly url: string;
  /** The token REST calls must present (`Authorization: token|Bearer …`); env() gives it as GITHUB_TOKEN. */
  readonly token: string;
  /** The default repository of runs. */
  readonly repository: string;
  /** Its numeric id (GITHUB_REPOSITORY_ID, `repository.id`, `workflow_run.repository_id`). */
  readonly repositoryId: number;
  /** Its default branch. */
  readonly defaultBranch: string;
  /**
   * What a runner gives a job step of this run: ACTIONS_RESULTS_URL, ACTIONS_RUNTIME_TOKEN (with the run's `ac`
   * claim), ACTIONS_CACHE_SERVICE_V2, GITHUB_API_URL, GITHUB_REPOSITORY(_OWNER/_ID), GITHUB_RUN_ID/ATTEMPT/NUMBER,
   * GITHUB_EVENT_NAME and GITHUB_EVENT_PATH (a payload with `repository: {id, default_branch, full_name, …}` and,
   * for a pull request, `pull_request` with its head and base), GITHUB_REF(_NAME/_TYPE), GITHUB_HEAD_REF/BASE_REF
   * for a pull request, GITHUB_SHA, GITHUB_TOKEN (pass it as the action's github-token), GITHUB_WORKSPACE,
   * RUNNER_TEMP, GITHUB_OUTPUT/ENV/STATE/PATH/STEP_SUMMARY (files of this run attempt) and the usual GITHUB_*
   * context. Never GITHUB_SERVER_URL. Creates the directories; the workspace and RUNNER_TEMP are at the same paths
   * for every run, and keep their files until `resetRunner()`.
   */
  env(run: RunOptions): Record<string, string>;
  /** Empties the default workspaces and RUNNER_TEMP, as the fresh machine each hosted run gets. */
  resetRunner(): Promise<void>;
  /** The ACTIONS_RUNTIME_TOKEN of a run: a JWT whose `scp` names its backend ids and whose `ac` its cache scopes. */
  runtimeToken(run: RunOptions): string;
  /**
   * Makes a repository known (REST `GET /repos/{owner}/{repo}`, ids in payloads), or returns it as first made
   * known; runs and pull requests' head repositories (forks) are added on first use, with default branch `main`.
   */
  addRepository(fullName: string, options?: { defaultBranch?: string; fork?: boolean }): RepositoryInfo;
  caches(): CacheEntryInfo[];
  artifacts(): ArtifactInfo[];
  /** The stored bytes of an artifact: a zip, unless uploaded with skipArchive. */
  artifactZip(id: number): Promise<Buffer>;
  /** Makes uploads fail until the fault is used up or cleared; faults add up. */
  failUploads(fault?: UploadFault): void;
  /**
   * Refuses CreateCacheEntry as GitHub's rate limit does: HTTP 429, twirp resource_exhausted, Retry-After. @actions/
   * cache 6 does not retry it: it warns "You've hit a rate limit, your rate limit will reset in N seconds", logs
   * "Failed to save: Unable to reserve cache …" as info, and saveCache returns -1. A fault like `failUploads`'.
   */
  rateLimitCacheSaves(options?: { cacheKeyPrefix?: string; times?: number; retryAfterSeconds?: number }): void;
  clearFaults(): void;
  /** Evicts cache entries whose key starts with `prefix` (all when omitted); how many went. */
  evictCache(prefix?: string): Promise<number>;
  /**
   * Marks an artifact expired (its expires_at now, if later): REST lists it with `expired: true` and answers its
   * zip with 410; the run's ListArtifacts no longer shows it.
   */
  expireArtifact(id: number): void;
  /** Every request so far, in the order they arrived. */
  requests(): RecordedRequest[];
  /** Stops and deletes its files; rejects if the server itself failed on some request. */
  stop(): Promise<void>;
}

export async function startActionsServer(options: ActionsServerOptions = {}): Promise<ActionsServer> {
  const defaultRepository = options.repository ?? 'octo-org/octo-repo';
  const repositories = new Repositories();
  const home = repositories.add(defaultRepository, { defaultBranch: options.defaultBranch ?? 'main' });
  const root = await mkdtemp(join(tmpdir(), 'bs-actions-'));
  await mkdir(join(root, 'blobs'));
  const work = join(root, 'work');
  const secret = randomBytes(32);
  const tokens = new RuntimeTokens(secret);
  const restToken = `ghs_${randomBytes(18).toString('base64url')}`;
  const faults = new Faults();
  const recorded: RecordedRequest[] = [];
  const failures: Error[] = [];

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record: RecordedRequest = { method: req.method ?? '', path: url.pathname, query: url.searchParams, status: undefined };
    recorded.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    route(req, res, url).catch((error: unknown) => {
      // A client that hangs up mid-body (an aborted upload) is not our failure.
      if (req.destroyed && !req.complete) return void res.destroy();
      const failure = new Error(`actions server failed on ${req.method} ${url.pathname}: ${String(error)}`, { cause: error });
      failures.push(failure);
      // 400, not 500: every client here retries 5xx for many seconds, and stop() reports the failure anyway.
      if (res.headersSent) res.destroy();
      else sendJson(res, 400, { code: 'internal', msg: failure.message, message: failure.message });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // Created once the port is known, as signed URLs point back here; no request can come before.
  const blobs = new BlobStore({
    dir: join(root, 'blobs'),
    origin,
    secret,
    gate: ({ path, receivedBefore }) => {
      const target = uploadTarget(path);
      return target === undefined ? undefined : faults.take(target, 'blob', receivedBefore)?.status;
    },
  });
  const caches = new CacheService(blobs, faults);
  const artifacts = new ArtifactService(blobs, faults);
  function uploadTarget(path: string): UploadTarget | undefined {
    const name = artifacts.nameOfBlob(path);
    if (name !== undefined) return { kind: 'artifact', name };
    const key = caches.keyOfBlob(path);
    return key === undefined ? undefined : { kind: 'cache', key };
  }

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const twirp = /^\/twirp\/github\.actions\.results\.api\.v1\.(CacheService|ArtifactService)\/(\w+)$/.exec(url.pathname);
    if (twirp !== null) return callTwirp(req, res, twirp[1] === 'CacheService' ? caches : artifacts, twirp[2]!);
    if (url.pathname.startsWith('/blob/')) return blobs.handle(req, res, url);
    if (url.pathname.startsWith('/repos/')) return handleRest(req, res, url, { artifacts, repositories, token: restToken, apiUrl: origin });
    sendJson(res, 404, { message: 'Not Found' });
  }

  async function callTwirp(
    req: IncomingMessage,
    res: ServerResponse,
    service: CacheService | ArtifactService,
    method: string,
  ): Promise<void> {
    try {
      if (req.method !== 'POST') throw new TwirpError('not_found', `${req.method} is not a twirp call`);
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const run = bearer === undefined ? undefined : tokens.verify(bearer);
      if (run === undefined) throw new TwirpError('unauthenticated', 'a valid runtime token is required');
      sendJson(res, 200, await service.call(method, parseMessage(await readBody(req)), run));
    } catch (error) {
      if (!(error instanceof TwirpError)) throw error;
      sendTwirpError(res, error);
    }
  }

  function describe(run: RunOptions): RunDescription {
    const repo = repositories.add(run.repository ?? defaultRepository);
    const defaultRef = `refs/heads/${repo.defaultBranch}`;
    const pr = run.pullRequest;
    const event = run.event ?? (pr === undefined ? 'schedule' : 'pull_request');
    let ref = run.ref ?? defaultRef;
    let pull: RunDescription['pull'];
    if (pr !== undefined) {
      const base = pr.base ?? repo.defaultBranch;
      const headRepo = repositories.add(pr.headRepository ?? repo.fullName);
      // The head repository of another repository's pull request is a fork of it, however it was first added.
      if (headRepo !== repo) headRepo.fork = true;
      pull = { number: pr.number, base, head: pr.head ?? `pr-${pr.number}`, headRepository: headRepo };
      if (mergeRefEvents.has(event)) {
        if (run.ref !== undefined) throw new Error(`a ${event} run is on refs/pull/${pr.number}/merge, not ${run.ref}`);
        ref = `refs/pull/${pr.number}/merge`;
      } else if (run.ref === undefined) ref = `refs/heads/${base}`;
    }
    if (!/^refs\/(heads|tags|pull)\/./.test(ref)) throw new Error(`ref ${ref} is not refs/heads/…, refs/tags/… or refs/pull/…`);
    const scopes: CacheScope[] = [
      { Scope: ref, Permission: untrustedEvents.has(event) && ref === defaultRef ? CacheRead : CacheRead | CacheWrite },
    ];
    for (const readable of [pull && `refs/heads/${pull.base}`, defaultRef]) {
      if (readable !== undefined && !scopes.some((s) => s.Scope === readable)) scopes.push({ Scope: readable, Permission: CacheRead });
    }
    const identity: RunIdentity = {
      repository: repo.fullName,
      runId: run.runId,
      attempt: run.attempt ?? 1,
      ref,
      headBranch: pull?.head ?? ref.replace(/^refs\/(heads|tags)\//, ''),
      headRepository: pull?.headRepository.fullName ?? repo.fullName,
      cacheScopes: run.cacheScopes ?? scopes,
    };
    return { identity, repo, event, pull };
  }

  function payloadRepository(r: RepositoryInfo): Record<string, unknown> {
    const [owner, name] = r.fullName.split('/') as [string, string];
    return { id: r.id, name, full_name: r.fullName, owner: { login: owner }, fork: r.fork, default_branch: r.defaultBranch };
  }

  /** The webhook payload GITHUB_EVENT_PATH holds: the parts actions read (@actions/github's `context.payload`). */
  function eventPayload({ identity, repo, event, pull }: RunDescription): Record<string, unknown> {
    const sha = (what: string) => createHash('sha1').update(`${identity.repository} ${identity.runId} ${what}`).digest('hex');
    const payload: Record<string, unknown> = {};
    if (pull !== undefined) {
      payload.action = 'synchronize';
      payload.number = pull.number;
      payload.pull_request = {
        number: pull.number,
        state: 'open',
        head: { ref: pull.head, sha: sha('head'), repo: payloadRepository(pull.headRepository) },
        base: { ref: pull.base, sha: sha('base'), repo: payloadRepository(repo) },
      };
    } else if (event === 'push') {
      Object.assign(payload, { ref: identity.ref, before: sha('before'), after: sha('head') });
    } else if (event === 'schedule') {
      payload.schedule = '17 3 * * *';
    } else if (event === 'workflow_dispatch') {
      Object.assign(payload, { ref: identity.ref, inputs: {} });
    }
    payload.repository = payloadRepository(repo);
    payload.sender = { login: 'octocat', type: 'User' };
    return payload;
  }

  return {
    url: origin,
    token: restToken,
    repository: defaultRepository,
    repositoryId: home.id,
    defaultBranch: home.defaultBranch,
    env(run) {
      const described = describe(run);
      const { identity: id, pull } = described;
      const [owner, name] = id.repository.split('/') as [string, string];
      const dir = join(root, 'runs', `${owner}_${name}-${id.runId}-${id.attempt}`);
      const workspace = run.workspace ?? join(work, name, name);
      const temp = join(work, '_temp');
      for (const made of [dir, workspace, temp]) mkdirSync(made, { recursive: true });
      const files: Record<string, string> = {};
      for (const variable of ['GITHUB_OUTPUT', 'GITHUB_ENV', 'GITHUB_STATE', 'GITHUB_PATH', 'GITHUB_STEP_SUMMARY']) {
        files[variable] = join(dir, variable.toLowerCase());
        writeFileSync(files[variable], '', { flag: 'a' });
      }
      const eventPath = join(dir, 'event.json');
      writeFileSync(eventPath, JSON.stringify(eventPayload(described), null, 2));
      const refName = id.ref.replace(/^refs\/(heads|tags|pull)\//, '');
      return {
        CI: 'true',
        GITHUB_ACTIONS: 'true',
        GITHUB_API_URL: origin,
        GITHUB_REPOSITORY: id.repository,
        GITHUB_REPOSITORY_ID: String(described.repo.id),
        GITHUB_REPOSITORY_OWNER: owner,
        GITHUB_RUN_ID: String(id.runId),
        GITHUB_RUN_ATTEMPT: String(id.attempt),
        GITHUB_RUN_NUMBER: String(id.runId),
        GITHUB_WORKFLOW: 'nightly',
        GITHUB_JOB: 'serialize',
        GITHUB_EVENT_NAME: described.event,
        GITHUB_EVENT_PATH: eventPath,
        GITHUB_REF: id.ref,
        GITHUB_REF_NAME: refName,
        GITHUB_REF_TYPE: id.ref.startsWith('refs/tags/') ? 'tag' : 'branch',
        ...(pull === undefined ? {} : { GITHUB_HEAD_REF: pull.head, GITHUB_BASE_REF: pull.base }),
        GITHUB_SHA: createHash('sha1').update(`${id.repository} ${id.runId}`).digest('hex'),
        GITHUB_TOKEN: restToken,
        GITHUB_WORKSPACE: workspace,
        RUNNER_TEMP: temp,
        RUNNER_OS: 'Linux',
        RUNNER_ARCH: 'X64',
        ...files,
        ACTIONS_RESULTS_URL: `${origin}/`,
        ACTIONS_RUNTIME_TOKEN: tokens.issue(id),
        ACTIONS_CACHE_SERVICE_V2: 'True',
      };
    },
    async resetRunner() {
      await rm(work, { recursive: true, force: true });
    },
    runtimeToken: (run) => tokens.issue(describe(run).identity),
    addRepository: (fullName, repositoryOptions) => repositories.add(fullName, repositoryOptions),
    caches: () => caches.entries(),
    artifacts: () => artifacts.infos(),
    async artifactZip(id) {
      const artifact = artifacts.byId(id);
      if (artifact === undefined || !artifact.finalized) throw new Error(`no finalized artifact with id ${id}`);
      return blobs.read(artifact.blobPath);
    },
    failUploads: (fault = {}) => faults.add(fault),
    rateLimitCacheSaves: ({ cacheKeyPrefix = '', times, retryAfterSeconds = 60 } = {}) =>
      faults.add({ cacheKeyPrefix, times, retryAfterSeconds, at: 'reserve', status: 429 }),
    clearFaults: () => faults.clear(),
    evictCache: (prefix) => caches.evict(prefix),
    expireArtifact: (id) => artifacts.expire(id),
    requests: () => recorded.map((r) => ({ ...r })),
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(root, { recursive: true, force: true });
      if (failures.length > 0)
        throw new AggregateError(failures, `actions server failed on ${failures.length} request(s): ${failures[0]!.message}`);
    },
  };
}

interface RunDescription {
  identity: RunIdentity;
  repo: RepositoryInfo;
  event: string;
  pull: { number: number; base: string; head: string; headRepository: RepositoryInfo } | undefined;
}

/** Events of a pull request that run on its merge ref (`pull_request_target` runs on the base branch). */
const mergeRefEvents = new Set(['pull_request', 'pull_request_review', 'pull_request_review_comment']);

/**
 * Events anyone may trigger: on the default branch's scope GitHub issues them a read-only cache token (changelog
 * 2026-06-26, "Read-only Actions cache for untrusted triggers"; fork `workflow_run` cascades too: give `cacheScopes`).
 */
const untrustedEvents = new Set(['pull_request_target', 'issue_comment']);

/**
 * Puts a run's env into process.env for in-process library calls (and drops GITHUB_SERVER_URL, which would switch
 * the libraries to GHES mode); returns a function that restores what was there.
 */
export function applyEnv(vars: Record<string, string>): () => void {
  const names = [...Object.keys(vars), 'GITHUB_SERVER_URL'];
  const saved = new Map(names.map((name) => [name, process.env[name]]));
  delete process.env.GITHUB_SERVER_URL;
  Object.assign(process.env, vars);
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
