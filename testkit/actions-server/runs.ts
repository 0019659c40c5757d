/**
 * Workflow runs and the ACTIONS_RUNTIME_TOKEN that identifies one. The token is a JWT (HS256, our secret) whose
 * `scp` claim carries `Actions.Results:<runBackendId>:<jobBackendId>`, which @actions/artifact decodes (without
 * verifying) to fill its requests, and whose `ac` claim lists the run's cache scopes, as GitHub's does (a JSON string
 * `[{"Scope":"refs/heads/main","Permission":3}]`; Permission bits 1 read, 2 write). The server verifies the token and
 * trusts its claims; `ref`, `head_ref` and `head_repository` are ours, for what GitHub knows of the run server side.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** One entry of the `ac` claim: a ref whose cache entries the run may read (Permission & 1) or write (& 2). */
export interface CacheScope {
  Scope: string;
  Permission: number;
}

export const CacheRead = 1;
export const CacheWrite = 2;

export interface RunIdentity {
  /** `owner/name` */
  repository: string;
  runId: number;
  attempt: number;
  /** GITHUB_REF: `refs/heads/<branch>`, `refs/tags/<tag>` or, for a pull request, `refs/pull/<n>/merge`. */
  ref: string;
  /** What REST calls the run's `head_branch`: the branch (or tag) pushed, or a pull request's head branch. */
  headBranch: string;
  /** `owner/name` of the head branch: the repository itself, or a fork for a fork's pull request. */
  headRepository: string;
  /** The `ac` claim, in order: the run's own ref first, then the refs it may also read. */
  cacheScopes: CacheScope[];
}

export interface Run extends RunIdentity {
  /** Same for every attempt of a run, as artifacts of earlier attempts stay visible to later ones. */
  runBackendId: string;
  /** One job per attempt. */
  jobBackendId: string;
}

function uuidFrom(text: string): string {
  const hex = createHash('sha256').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export function runOf(identity: RunIdentity): Run {
  return {
    ...identity,
    runBackendId: uuidFrom(`run ${identity.repository} ${identity.runId}`),
    jobBackendId: uuidFrom(`job ${identity.repository} ${identity.runId} ${identity.attempt}`),
  };
}

interface Claims {
  scp: string;
  ac: string;
  repository: string;
  run_id: number;
  run_attempt: number;
  ref: string;
  head_ref: string;
  head_repository: string;
  iat: number;
  nbf: number;
  exp: number;
}

export class RuntimeTokens {
  readonly #secret: Buffer;

  constructor(secret: Buffer) {
    this.#secret = secret;
  }

  issue(identity: RunIdentity): string {
    const run = runOf(identity);
    const now = Math.floor(Date.now() / 1000);
    const claims: Claims = {
      scp: `Actions.GenericRead:00000000-0000-0000-0000-000000000000 Actions.Results:${run.runBackendId}:${run.jobBackendId}`,
      ac: JSON.stringify(run.cacheScopes),
      repository: run.repository,
      run_id: run.runId,
      run_attempt: run.attempt,
      ref: run.ref,
      head_ref: run.headBranch,
      head_repository: run.headRepository,
      iat: now,
      nbf: now,
      exp: now + 6 * 3600,
    };
    const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
    return `${unsigned}.${this.#sign(unsigned)}`;
  }

  /** The run a token was issued for, or undefined when it is not one of ours or has expired. */
  verify(token: string): Run | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [header, payload, signature] = parts as [string, string, string];
    const expected = Buffer.from(this.#sign(`${header}.${payload}`));
    const given = Buffer.from(signature);
    if (given.byteLength !== expected.byteLength || !timingSafeEqual(given, expected)) return undefined;
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Claims;
    if (claims.exp * 1000 < Date.now()) return undefined;
    return runOf({
      repository: claims.repository,
      runId: claims.run_id,
      attempt: claims.run_attempt,
      ref: claims.ref,
      headBranch: claims.head_ref,
      headRepository: claims.head_repository,
      cacheScopes: JSON.parse(claims.ac) as CacheScope[],
    });
  }

  #sign(unsigned: string): string {
    return createHmac('sha256', this.#secret).update(unsigned).digest('base64url');
  }
}

function encode(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
