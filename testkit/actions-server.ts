/**
 * A loopback stand-in for the GitHub Actions services that @actions/cache (v6), @actions/artifact (v6) and
 * @actions/core (v3) talk to, so tests run those libraries for real: the Results twirp services (CacheService v2,
 * ArtifactService v2), Azure-style blob storage behind the signed URLs they hand out, and the REST routes that list
 * and download artifacts of other runs. It models workflow runs (an artifact belongs to the run whose runtime
 * token uploaded it), can refuse uploads on demand, evict cache entries, and shows its state to tests.
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
import { randomBytes } from 'node:crypto';
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
import { handleRest } from './actions-server/rest-api.ts';
import { RuntimeTokens, type RunIdentity } from './actions-server/runs.ts';
import { parseMessage, sendTwirpError, TwirpError } from './actions-server/twirp.ts';

export type { ArtifactInfo, CacheEntryInfo, UploadFault };

export interface ActionsServerOptions {
  /** `owner/name` runs belong to unless `env()` says otherwise (default `octo-org/octo-repo`). */
  repository?: string;
}

export interface RunOptions {
  runId: number;
  /** Default 1. Attempts of a run share its artifacts, as on GitHub. */
  attempt?: number;
  /** `owner/name`; default the server's. */
  repository?: string;
  /** GITHUB_WORKSPACE; default `<server dir>/work/<repo>/<repo>`, the same for every run of the repository. */
  workspace?: string;
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
  /**
   * What a runner gives a job step of this run: ACTIONS_RESULTS_URL, ACTIONS_RUNTIME_TOKEN, ACTIONS_CACHE_SERVICE_V2,
   * GITHUB_API_URL, GITHUB_REPOSITORY(_OWNER), GITHUB_RUN_ID/ATTEMPT/NUMBER, GITHUB_TOKEN (pass it as the action's
   * github-token), GITHUB_WORKSPACE, RUNNER_TEMP, GITHUB_OUTPUT/ENV/STATE/PATH/STEP_SUMMARY (files of this run
   * attempt) and the usual GITHUB_* context. Never GITHUB_SERVER_URL. Creates the directories; the workspace and
   * RUNNER_TEMP are at the same paths for every run, and keep their files until `resetRunner()`.
   */
  env(run: RunOptions): Record<string, string>;
  /** Empties the default workspaces and RUNNER_TEMP, as the fresh machine each hosted run gets. */
  resetRunner(): Promise<void>;
  /** The ACTIONS_RUNTIME_TOKEN of a run: a JWT whose `scp` names its backend ids. */
  runtimeToken(run: RunOptions): string;
  caches(): CacheEntryInfo[];
  artifacts(): ArtifactInfo[];
  /** The stored bytes of an artifact: a zip, unless uploaded with skipArchive. */
  artifactZip(id: number): Promise<Buffer>;
  /** Makes uploads fail until the fault is used up or cleared; faults add up. */
  failUploads(fault?: UploadFault): void;
  clearFaults(): void;
  /** Evicts cache entries whose key starts with `prefix` (all when omitted); how many went. */
  evictCache(prefix?: string): Promise<number>;
  /** Marks an artifact expired: REST lists it with `expired: true` and answers its download with 410. */
  expireArtifact(id: number): void;
  /** Every request so far, in the order they arrived. */
  requests(): RecordedRequest[];
  /** Stops and deletes its files; rejects if the server itself failed on some request. */
  stop(): Promise<void>;
}

export async function startActionsServer(options: ActionsServerOptions = {}): Promise<ActionsServer> {
  const defaultRepository = options.repository ?? 'octo-org/octo-repo';
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
      return target === undefined ? undefined : faults.take(target, 'blob', receivedBefore);
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
    if (url.pathname.startsWith('/repos/')) return handleRest(req, res, url, { artifacts, token: restToken, apiUrl: origin });
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

  function identity(run: RunOptions): RunIdentity {
    const repository = run.repository ?? defaultRepository;
    if (!/^[\w.-]+\/[\w.-]+$/.test(repository)) throw new Error(`repository ${repository} is not owner/name`);
    return { repository, runId: run.runId, attempt: run.attempt ?? 1 };
  }

  return {
    url: origin,
    token: restToken,
    repository: defaultRepository,
    env(run) {
      const id = identity(run);
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
      return {
        CI: 'true',
        GITHUB_ACTIONS: 'true',
        GITHUB_API_URL: origin,
        GITHUB_REPOSITORY: id.repository,
        GITHUB_REPOSITORY_OWNER: owner,
        GITHUB_RUN_ID: String(id.runId),
        GITHUB_RUN_ATTEMPT: String(id.attempt),
        GITHUB_RUN_NUMBER: String(id.runId),
        GITHUB_WORKFLOW: 'nightly',
        GITHUB_JOB: 'serialize',
        GITHUB_EVENT_NAME: 'schedule',
        GITHUB_REF: 'refs/heads/main',
        GITHUB_REF_NAME: 'main',
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
    runtimeToken: (run) => tokens.issue(identity(run)),
    caches: () => caches.entries(),
    artifacts: () => artifacts.infos(),
    async artifactZip(id) {
      const artifact = artifacts.byId(id);
      if (artifact === undefined || !artifact.finalized) throw new Error(`no finalized artifact with id ${id}`);
      return blobs.read(artifact.blobPath);
    },
    failUploads: (fault = {}) => faults.add(fault),
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
