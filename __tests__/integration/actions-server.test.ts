/**
 * The real @actions/cache, @actions/artifact and @actions/core against our loopback Actions server: if these pass,
 * the server speaks the protocols as those libraries use them, and the action's tests can rely on it.
 */
import '../../testkit/quiet-actions-debug.ts';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { runAction } from '../../testkit/action-run.ts';
import { applyEnv, startActionsServer, type ActionsServer, type RunOptions } from '../../testkit/actions-server.ts';

let server: ActionsServer;
let restoreEnv = (): void => undefined;
let cache: typeof import('@actions/cache');
let artifact: InstanceType<typeof import('@actions/artifact').DefaultArtifactClient>;
let scratch: string;

/**
 * Becomes run `runId` of the nightly workflow on a fresh runner (on the default branch unless `run` says otherwise):
 * process.env as it would set it; the workspace.
 */
async function beRun(runId: number, run: Omit<RunOptions, 'runId'> = {}): Promise<string> {
  restoreEnv();
  await server.resetRunner();
  const env = server.env({ runId, ...run });
  restoreEnv = applyEnv(env);
  return env.GITHUB_WORKSPACE!;
}

beforeAll(async () => {
  server = await startActionsServer();
  scratch = await mkdtemp(join(tmpdir(), 'bs-actions-test-'));
  await beRun(1);
  // @actions/github reads GITHUB_API_URL at import: the env has to be in place first.
  cache = await import('@actions/cache');
  artifact = new (await import('@actions/artifact')).DefaultArtifactClient();
});
afterEach(() => server.clearFaults());
afterAll(async () => {
  restoreEnv();
  await rm(scratch, { recursive: true, force: true });
  await server?.stop();
});

async function writeTracker(workspace: string, content: string): Promise<void> {
  await mkdir(join(workspace, 'tracker', 'sub'), { recursive: true });
  await writeFile(join(workspace, 'tracker', 'state.json'), content);
  await writeFile(join(workspace, 'tracker', 'sub', 'ledger.csv'), `${content}\n1,2,3\n`);
}

/** What @actions/core writes to stdout while `action` runs (its info lines and `::warning::` commands). */
async function stdoutOf<T>(action: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const write = process.stdout.write;
  const lines: string[] = [];
  process.stdout.write = ((chunk: string | Uint8Array) => {
    lines.push(
      ...String(chunk)
        .split('\n')
        .filter((line) => line !== ''),
    );
    return true;
  }) as typeof process.stdout.write;
  try {
    return { result: await action(), lines };
  } finally {
    process.stdout.write = write;
  }
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** A REST call with the server's token: status and JSON body (undefined when there is none). */
async function rest<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T; location: string | undefined }> {
  const answer = await request(`${server.url}${path}`, { headers: { authorization: `Bearer ${server.token}` } });
  const text = await answer.body.text();
  const location = answer.headers.location;
  return {
    status: answer.statusCode,
    body: (text === '' ? undefined : JSON.parse(text)) as T,
    location: typeof location === 'string' ? location : undefined,
  };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('@actions/cache', () => {
  // Absolute paths: the version of an entry hashes them, and they stay the same from run to run.
  const tracker = (workspace: string): string[] => [join(workspace, 'tracker')];

  test('saves a directory and restores it in a later run by its exact key', async () => {
    const first = await beRun(1);
    expect(cache.isFeatureAvailable()).toBe(true);
    await writeTracker(first, '{"run":1}');
    const id = await cache.saveCache(tracker(first), 'tracker-exact');
    expect(id).toBeGreaterThan(0);
    expect(server.caches()).toEqual([
      expect.objectContaining({ id, key: 'tracker-exact', finalized: true, repository: server.repository, scope: 'refs/heads/main' }),
    ]);

    const workspace = await beRun(2);
    expect(await cache.restoreCache(tracker(workspace), 'tracker-exact')).toBe('tracker-exact');
    expect(await readFile(join(workspace, 'tracker', 'state.json'), 'utf8')).toBe('{"run":1}');
    expect(await readFile(join(workspace, 'tracker', 'sub', 'ledger.csv'), 'utf8')).toBe('{"run":1}\n1,2,3\n');
  });

  test('a restore key picks the newest entry it prefixes; an exact key wins; the version scopes', async () => {
    for (const run of [3, 4, 5]) {
      const workspace = await beRun(run);
      await writeTracker(workspace, `{"run":${run}}`);
      expect(await cache.saveCache(tracker(workspace), `nightly-${run}`)).toBeGreaterThan(0);
    }
    const workspace = await beRun(6);
    expect(await cache.restoreCache(tracker(workspace), 'nightly-6', ['nightly-'])).toBe('nightly-5');
    expect(await readFile(join(workspace, 'tracker', 'state.json'), 'utf8')).toBe('{"run":5}');
    expect(await cache.restoreCache(tracker(workspace), 'nightly-3', ['nightly-'])).toBe('nightly-3');
    expect(await readFile(join(workspace, 'tracker', 'state.json'), 'utf8')).toBe('{"run":3}');
    // Other paths make another version: the same keys do not match.
    expect(await cache.restoreCache([...tracker(workspace), join(workspace, 'more')], 'nightly-3', ['nightly-'])).toBeUndefined();
  });

  test('a miss returns undefined', async () => {
    const workspace = await beRun(7);
    expect(await cache.restoreCache(tracker(workspace), 'never-saved', ['never-'])).toBeUndefined();
  });

  test('saving a key that exists is refused (409), which the library reports as info, without throwing', async () => {
    const workspace = await beRun(8);
    await writeTracker(workspace, '{"run":8}');
    const { result, lines } = await stdoutOf(() => cache.saveCache(tracker(workspace), 'tracker-exact'));
    expect(result).toBe(-1);
    expect(lines).toContain('Failed to save: Unable to reserve cache with key tracker-exact, another job may be creating this cache.');
    expect(lines.filter((line) => line.startsWith('::warning::'))).toEqual([]);
    const creates = server.requests().filter((r) => r.path.endsWith('.CacheService/CreateCacheEntry'));
    expect(creates.at(-1)?.status).toBe(409);
    expect(server.caches().filter((e) => e.key === 'tracker-exact')).toHaveLength(1);
    // The first save is untouched.
    const later = await beRun(9);
    expect(await cache.restoreCache(tracker(later), 'tracker-exact')).toBe('tracker-exact');
    expect(await readFile(join(later, 'tracker', 'state.json'), 'utf8')).toBe('{"run":1}');
  });

  test('an archive over 128 MiB goes up in 64 MiB blocks and comes back whole', async () => {
    const workspace = await beRun(10);
    const big = join(workspace, 'big', 'blob.bin');
    await mkdir(join(workspace, 'big'));
    await writeFile(big, randomBytes(129 << 20));
    const digest = await sha256File(big);
    const id = await cache.saveCache([join(workspace, 'big')], 'big-archive');
    expect(id).toBeGreaterThan(0);
    const blobPuts = server.requests().filter((r) => r.method === 'PUT' && r.path === `/blob/caches/${id}`);
    expect(blobPuts.filter((r) => r.query.get('comp') === 'block').length).toBeGreaterThanOrEqual(3);
    expect(blobPuts.filter((r) => r.query.get('comp') === 'blocklist')).toHaveLength(1);

    const restored = await beRun(11);
    expect(await cache.restoreCache([join(restored, 'big')], 'big-archive')).toBe('big-archive');
    expect(await sha256File(join(restored, 'big', 'blob.bin'))).toBe(digest);
    await server.resetRunner();
    await server.evictCache('big-');
  });

  test('an evicted entry is a miss', async () => {
    expect(await server.evictCache('nightly-')).toBe(3);
    const workspace = await beRun(12);
    expect(await cache.restoreCache(tracker(workspace), 'nightly-12', ['nightly-'])).toBeUndefined();
    expect(server.caches().map((e) => e.key)).toEqual(['tracker-exact']);
  });

  test('a refused upload leaves no entry, and the library only warns', async () => {
    const workspace = await beRun(13);
    await writeTracker(workspace, '{"run":13}');
    server.failUploads({ cacheKeyPrefix: 'broken-' });
    const { result, lines } = await stdoutOf(() => cache.saveCache(tracker(workspace), 'broken-1'));
    expect(result).toBe(-1);
    expect(lines).toContain('::warning::Failed to save: upload refused by an injected fault');
    expect(server.caches().find((e) => e.key === 'broken-1')?.finalized).toBe(false);
    expect(await cache.restoreCache(tracker(workspace), 'broken-1')).toBeUndefined();
  });
});

describe('@actions/cache: the branch is the scope', () => {
  const dir = (workspace: string): string[] => [join(workspace, 'scoped')];
  async function save(workspace: string, key: string, content: string): Promise<number> {
    await mkdir(join(workspace, 'scoped'), { recursive: true });
    await writeFile(join(workspace, 'scoped', 'content.txt'), content);
    return cache.saveCache(dir(workspace), key);
  }
  async function restore(workspace: string, key: string, restoreKeys?: string[]): Promise<{ key: string | undefined; content?: string }> {
    const hit = await cache.restoreCache(dir(workspace), key, restoreKeys);
    if (hit === undefined) return { key: hit };
    return { key: hit, content: await readFile(join(workspace, 'scoped', 'content.txt'), 'utf8') };
  }

  test("the token's ac claim: the run's own ref read+write, then the base and default branches read-only", () => {
    const scopes = (run: RunOptions): unknown => JSON.parse(claimsOf(server.runtimeToken(run)).ac as string);
    expect(scopes({ runId: 1 })).toEqual([{ Scope: 'refs/heads/main', Permission: 3 }]);
    expect(scopes({ runId: 1, ref: 'refs/heads/feature' })).toEqual([
      { Scope: 'refs/heads/feature', Permission: 3 },
      { Scope: 'refs/heads/main', Permission: 1 },
    ]);
    expect(scopes({ runId: 1, pullRequest: { number: 7 } })).toEqual([
      { Scope: 'refs/pull/7/merge', Permission: 3 },
      { Scope: 'refs/heads/main', Permission: 1 },
    ]);
    expect(scopes({ runId: 1, pullRequest: { number: 7, base: 'release' } })).toEqual([
      { Scope: 'refs/pull/7/merge', Permission: 3 },
      { Scope: 'refs/heads/release', Permission: 1 },
      { Scope: 'refs/heads/main', Permission: 1 },
    ]);
    // Untrusted triggers on the default branch's scope get a read-only token (GitHub, 2026-06-26).
    expect(scopes({ runId: 1, event: 'pull_request_target', pullRequest: { number: 7 } })).toEqual([
      { Scope: 'refs/heads/main', Permission: 1 },
    ]);
    // A bare pull_request event name (no pull request given) stays on the default branch, as before.
    expect(scopes({ runId: 1, event: 'pull_request' })).toEqual([{ Scope: 'refs/heads/main', Permission: 3 }]);
  });

  test('a branch saves into its own scope: later runs of the branch see it, the default branch and sibling branches do not', async () => {
    const id = await save(await beRun(31, { ref: 'refs/heads/feature' }), 'branch-only', 'feature');
    expect(server.caches().find((e) => e.id === id)).toMatchObject({ key: 'branch-only', scope: 'refs/heads/feature', finalized: true });
    expect(await restore(await beRun(32), 'branch-only', ['branch-'])).toEqual({ key: undefined });
    expect(await restore(await beRun(33, { ref: 'refs/heads/sibling' }), 'branch-only')).toEqual({ key: undefined });
    expect(await restore(await beRun(34, { ref: 'refs/heads/feature' }), 'branch-only')).toEqual({
      key: 'branch-only',
      content: 'feature',
    });
  });

  test('scopes are searched in claim order: a match in the own scope wins over a newer or exact one on the default branch', async () => {
    expect(await save(await beRun(35, { ref: 'refs/heads/feature' }), 'layered-feature', 'feature')).toBeGreaterThan(0);
    expect(await save(await beRun(36), 'layered-main', 'main')).toBeGreaterThan(0);
    const feature = await beRun(37, { ref: 'refs/heads/feature' });
    // The key is an exact match on main, but the feature scope comes first and its restore key matches there.
    expect(await restore(feature, 'layered-main', ['layered-'])).toEqual({ key: 'layered-feature', content: 'feature' });
    // With no match in its own scope, the run falls back to the default branch.
    expect(await restore(feature, 'layered-main')).toEqual({ key: 'layered-main', content: 'main' });
    expect(await restore(await beRun(38, { ref: 'refs/heads/sibling' }), 'layered-x', ['layered-'])).toEqual({
      key: 'layered-main',
      content: 'main',
    });
    // The same key saved on another branch is another entry: entries are immutable per scope only.
    expect(await save(await beRun(39, { ref: 'refs/heads/sibling' }), 'layered-main', 'sibling')).toBeGreaterThan(0);
    expect(
      server
        .caches()
        .filter((e) => e.key === 'layered-main')
        .map((e) => e.scope),
    ).toEqual(['refs/heads/main', 'refs/heads/sibling']);
  });

  test("a pull request's run writes into its merge ref and reads it, then the base branch, then the default branch", async () => {
    expect(await save(await beRun(41, { ref: 'refs/heads/release' }), 'pr-base', 'release')).toBeGreaterThan(0);
    expect(await save(await beRun(42), 'pr-default', 'main')).toBeGreaterThan(0);
    const pr = { number: 7, base: 'release', head: 'fix-7' };
    const workspace = await beRun(43, { pullRequest: pr });
    expect(await restore(workspace, 'pr-base')).toEqual({ key: 'pr-base', content: 'release' });
    expect(await restore(workspace, 'pr-default')).toEqual({ key: 'pr-default', content: 'main' });
    const id = await save(workspace, 'pr-own', 'pull 7');
    expect(server.caches().find((e) => e.id === id)?.scope).toBe('refs/pull/7/merge');
    // Only re-runs of the pull request restore it: not its base branch, the default branch or another pull request.
    expect(await restore(await beRun(43, { pullRequest: pr, attempt: 2 }), 'pr-own')).toEqual({ key: 'pr-own', content: 'pull 7' });
    expect(await restore(await beRun(44, { ref: 'refs/heads/release' }), 'pr-own')).toEqual({ key: undefined });
    expect(await restore(await beRun(45), 'pr-own')).toEqual({ key: undefined });
    expect(await restore(await beRun(46, { pullRequest: { number: 8, base: 'release' } }), 'pr-own')).toEqual({ key: undefined });
  });

  test('a read-only token cannot save: CacheWriteDeniedError, which saveCache only warns about, returning -1', async () => {
    const workspace = await beRun(47, { event: 'pull_request_target', pullRequest: { number: 9, headRepository: 'fork-owner/octo-repo' } });
    const { result, lines } = await stdoutOf(() => save(workspace, 'untrusted', 'poison'));
    expect(result).toBe(-1);
    expect(lines.filter((line) => /^::(warning|error)::/.test(line))).toEqual([
      expect.stringMatching(/^::warning::Failed to save: Unable to reserve cache with key untrusted\. More details: cache write denied: /),
    ]);
    expect(
      server
        .requests()
        .filter((r) => r.path.endsWith('/CreateCacheEntry'))
        .at(-1)?.status,
    ).toBe(200);
    expect(server.caches().find((e) => e.key === 'untrusted')).toBeUndefined();
    // Reads are unaffected.
    expect(await restore(workspace, 'pr-default')).toEqual({ key: 'pr-default', content: 'main' });
  });

  test('a token with no readable scope: the lookup is denied, which restoreCache warns about and treats as a miss', async () => {
    const workspace = await beRun(48, { cacheScopes: [{ Scope: 'refs/heads/main', Permission: 2 }] });
    const { result, lines } = await stdoutOf(() => cache.restoreCache(dir(workspace), 'pr-default'));
    expect(result).toBeUndefined();
    expect(lines.filter((line) => /^::(warning|error)::/.test(line))).toEqual([
      expect.stringMatching(/^::warning::Failed to restore: .*\(403\).*cache read denied: /),
    ]);
    expect(
      server
        .requests()
        .filter((r) => r.path.endsWith('/GetCacheEntryDownloadURL'))
        .at(-1)?.status,
    ).toBe(403);
  });

  test('a rate-limited save (429, Retry-After) is not retried: saveCache warns and returns -1; the next save goes through', async () => {
    const workspace = await beRun(49);
    server.rateLimitCacheSaves({ cacheKeyPrefix: 'limited-', retryAfterSeconds: 30, times: 1 });
    const before = server.requests().length;
    const { result, lines } = await stdoutOf(() => save(workspace, 'limited-1', 'x'));
    expect(result).toBe(-1);
    expect(lines.filter((line) => /^::(warning|error)::/.test(line))).toEqual([
      "::warning::You've hit a rate limit, your rate limit will reset in 30 seconds",
    ]);
    expect(lines).toContain('Failed to save: Unable to reserve cache with key limited-1, another job may be creating this cache.');
    const creates = server
      .requests()
      .slice(before)
      .filter((r) => r.path.endsWith('/CreateCacheEntry'));
    expect(creates.map((r) => r.status)).toEqual([429]);
    expect(server.caches().find((e) => e.key === 'limited-1')).toBeUndefined();
    expect(await save(workspace, 'limited-1', 'x')).toBeGreaterThan(0);
  });
});

describe('@actions/artifact', () => {
  const owner = (): string => server.repository.split('/')[0]!;
  const repo = (): string => server.repository.split('/')[1]!;
  const findBy = (workflowRunId: number) => ({ token: server.token, repositoryOwner: owner(), repositoryName: repo(), workflowRunId });
  let trackerId = 0;
  let trackerBytes: Buffer;

  test('uploads files as a zip that belongs to the run', async () => {
    const workspace = await beRun(21);
    trackerBytes = randomBytes(3 << 20);
    await mkdir(join(workspace, 'out'));
    await writeFile(join(workspace, 'out', 'tracker.bin'), trackerBytes);
    await writeFile(join(workspace, 'out', 'notes.txt'), 'run 21\n');
    const uploaded = await artifact.uploadArtifact(
      'tracker',
      [join(workspace, 'out', 'tracker.bin'), join(workspace, 'out', 'notes.txt')],
      join(workspace, 'out'),
      {
        compressionLevel: 0,
      },
    );
    expect(uploaded.id).toBeGreaterThan(0);
    trackerId = uploaded.id!;
    const zip = await server.artifactZip(trackerId);
    expect(uploaded.size).toBe(zip.byteLength);
    expect(uploaded.digest).toBe(createHash('sha256').update(zip).digest('hex'));
    expect(zip.subarray(0, 4)).toEqual(Buffer.from('PK\x03\x04', 'latin1'));
    expect(server.artifacts()).toEqual([
      expect.objectContaining({
        id: trackerId,
        name: 'tracker',
        runId: 21,
        finalized: true,
        size: zip.byteLength,
        digest: `sha256:${uploaded.digest}`,
      }),
    ]);
  });

  test('lists and downloads an artifact of the current run', async () => {
    await beRun(21);
    const { artifacts } = await artifact.listArtifacts();
    expect(artifacts).toEqual([expect.objectContaining({ id: trackerId, name: 'tracker' })]);
    const path = join(scratch, 'current');
    await artifact.downloadArtifact(trackerId, { path });
    expect((await readFile(join(path, 'tracker.bin'))).equals(trackerBytes)).toBe(true);
    expect(await readFile(join(path, 'notes.txt'), 'utf8')).toBe('run 21\n');
  });

  test('a later run finds and downloads it through the REST API', async () => {
    await beRun(22);
    expect((await artifact.listArtifacts()).artifacts).toEqual([]);
    const { artifacts } = await artifact.listArtifacts({ latest: true, findBy: findBy(21) });
    expect(artifacts).toEqual([
      expect.objectContaining({ id: trackerId, name: 'tracker', size: (await server.artifactZip(trackerId)).byteLength }),
    ]);
    const path = join(scratch, 'earlier');
    await artifact.downloadArtifact(trackerId, { path, findBy: findBy(21) });
    expect((await readFile(join(path, 'tracker.bin'))).equals(trackerBytes)).toBe(true);
  });

  test('the repository-wide REST list finds the newest artifact of a name across runs', async () => {
    const workspace = await beRun(23);
    await writeFile(join(workspace, 'tracker.bin'), 'run 23');
    const newer = await artifact.uploadArtifact('tracker', [join(workspace, 'tracker.bin')], workspace, { compressionLevel: 0 });
    const answer = await request(`${server.url}/repos/${server.repository}/actions/artifacts?name=tracker&per_page=1`, {
      headers: { authorization: `Bearer ${server.token}`, accept: 'application/vnd.github+json' },
    });
    expect(answer.statusCode).toBe(200);
    const body = (await answer.body.json()) as { total_count: number; artifacts: Record<string, unknown>[] };
    expect(body.total_count).toBe(2);
    expect(body.artifacts).toEqual([
      expect.objectContaining({
        id: newer.id,
        name: 'tracker',
        size_in_bytes: newer.size,
        expired: false,
        archive_download_url: `${server.url}/repos/${server.repository}/actions/artifacts/${newer.id}/zip`,
        workflow_run: expect.objectContaining({ id: 23 }),
      }),
    ]);
    expect(body.artifacts[0]!.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const anonymous = await request(`${server.url}/repos/${server.repository}/actions/artifacts`);
    expect(anonymous.statusCode).toBe(401);
    await anonymous.body.dump();
  });

  test('the zip redirect leads to a blob that answers HEAD and ranges, and only with its signature', async () => {
    const redirect = await request(`${server.url}/repos/${server.repository}/actions/artifacts/${trackerId}/zip`, {
      headers: { authorization: `token ${server.token}` },
    });
    expect(redirect.statusCode).toBe(302);
    await redirect.body.dump();
    const location = String(redirect.headers.location);
    const zip = await server.artifactZip(trackerId);

    const head = await request(location, { method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(zip.byteLength));
    expect(head.headers['content-type']).toBe('application/zip');
    expect(head.headers['content-disposition']).toContain('filename="tracker.zip"');
    await head.body.dump();

    const first = await request(location, { headers: { 'x-ms-range': 'bytes=0-3' } });
    expect(first.statusCode).toBe(206);
    expect(first.headers['content-range']).toBe(`bytes 0-3/${zip.byteLength}`);
    expect(Buffer.from(await first.body.arrayBuffer())).toEqual(zip.subarray(0, 4));
    const tail = await request(location, { headers: { range: `bytes=${zip.byteLength - 10}-` } });
    expect(tail.statusCode).toBe(206);
    expect(Buffer.from(await tail.body.arrayBuffer())).toEqual(zip.subarray(-10));
    const beyond = await request(location, { headers: { range: `bytes=${zip.byteLength}-` } });
    expect(beyond.statusCode).toBe(416);
    await beyond.body.dump();

    const tampered = new URL(location);
    tampered.searchParams.set('sp', 'rcw');
    const forged = await request(tampered, { method: 'PUT', body: 'x', headers: { 'x-ms-blob-type': 'BlockBlob' } });
    expect(forged.statusCode).toBe(403);
    expect(forged.headers['x-ms-error-code']).toBe('AuthenticationFailed');
    await forged.body.dump();
    const readOnly = await request(location, { method: 'PUT', body: 'x', headers: { 'x-ms-blob-type': 'BlockBlob' } });
    expect(readOnly.statusCode).toBe(403);
    await readOnly.body.dump();
  });

  test('an upload refused half way rejects and leaves no artifact; a retry of the name then succeeds', async () => {
    const workspace = await beRun(24);
    await writeFile(join(workspace, 'big.bin'), randomBytes(20 << 20));
    server.failUploads({ artifactName: 'half', afterBytes: 8 << 20 });
    await expect(artifact.uploadArtifact('half', [join(workspace, 'big.bin')], workspace, { compressionLevel: 0 })).rejects.toThrow();
    const attempt = server.artifacts().find((a) => a.name === 'half')!;
    expect(attempt.finalized).toBe(false);
    // The first 8 MiB block goes through (unless the SDK aborts it once another fails); every later one is refused.
    const [first, ...later] = server.requests().filter((r) => r.method === 'PUT' && r.path === `/blob/artifacts/${attempt.id}`);
    expect(first?.query.get('comp')).toBe('block');
    expect(first?.status).not.toBe(403);
    expect(later.length).toBeGreaterThan(0);
    expect(later.filter((r) => r.status !== undefined).map((r) => r.status)).toContain(403);
    expect(later.map((r) => r.status)).not.toContain(201);
    expect((await artifact.listArtifacts()).artifacts).toEqual([]);

    server.clearFaults();
    const retried = await artifact.uploadArtifact('half', [join(workspace, 'big.bin')], workspace, { compressionLevel: 0 });
    expect(server.artifacts().filter((a) => a.name === 'half')).toEqual([expect.objectContaining({ id: retried.id, finalized: true })]);
  });

  test('a refused finalize rejects and leaves no artifact', async () => {
    const workspace = await beRun(25);
    await writeFile(join(workspace, 'small.txt'), 'small');
    server.failUploads({ artifactName: 'unfinished', at: 'finalize' });
    await expect(artifact.uploadArtifact('unfinished', [join(workspace, 'small.txt')], workspace)).rejects.toThrow(/FinalizeArtifact/);
    expect(server.artifacts().find((a) => a.name === 'unfinished')?.finalized).toBe(false);
  });

  test('a second artifact of the same name in one run is refused (409)', async () => {
    const workspace = await beRun(25);
    await writeFile(join(workspace, 'small.txt'), 'small');
    await artifact.uploadArtifact('once', [join(workspace, 'small.txt')], workspace);
    await expect(artifact.uploadArtifact('once', [join(workspace, 'small.txt')], workspace)).rejects.toThrow(
      'Failed to CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: ' +
        'an artifact with this name already exists on the workflow run',
    );
  });

  test('an expired artifact is listed as expired and its download is gone', async () => {
    server.expireArtifact(trackerId);
    const listed = await request(`${server.url}/repos/${server.repository}/actions/runs/21/artifacts`, {
      headers: { authorization: `token ${server.token}` },
    });
    expect(((await listed.body.json()) as { artifacts: { expired: boolean }[] }).artifacts).toEqual([
      expect.objectContaining({ id: trackerId, expired: true }),
    ]);
    const download = await request(`${server.url}/repos/${server.repository}/actions/artifacts/${trackerId}/zip`, {
      headers: { authorization: `token ${server.token}` },
    });
    expect(download.statusCode).toBe(410);
    await download.body.dump();
  });
});

interface RestArtifact {
  id: number;
  name: string;
  expired: boolean;
  workflow_run: { id: number; repository_id: number; head_repository_id: number; head_branch: string; head_sha: string };
}
type RestArtifactList = { total_count: number; artifacts: RestArtifact[] };

describe('@actions/artifact: names in a run, deletes, and the repository-wide list', () => {
  const conflict =
    'Failed to CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: ' +
    'an artifact with this name already exists on the workflow run';

  test('a name is taken for every attempt of the run; deleteArtifact frees it for another upload', async () => {
    const first = await beRun(51);
    await writeFile(join(first, 'report.txt'), 'attempt 1');
    const uploaded = await artifact.uploadArtifact('report', [join(first, 'report.txt')], first);

    const second = await beRun(51, { attempt: 2 });
    await writeFile(join(second, 'report.txt'), 'attempt 2');
    await expect(artifact.uploadArtifact('report', [join(second, 'report.txt')], second)).rejects.toThrow(conflict);
    // The later attempt sees the earlier one's artifact, finds it by name and deletes it (ListArtifacts, DeleteArtifact).
    expect((await artifact.listArtifacts()).artifacts).toEqual([expect.objectContaining({ id: uploaded.id, name: 'report' })]);
    expect((await artifact.getArtifact('report')).artifact).toMatchObject({ id: uploaded.id, name: 'report' });
    expect(await artifact.deleteArtifact('report')).toEqual({ id: uploaded.id });
    expect(
      server
        .requests()
        .filter((r) => r.path.endsWith('.ArtifactService/DeleteArtifact'))
        .map((r) => r.status),
    ).toEqual([200]);
    expect(server.artifacts().find((a) => a.id === uploaded.id)).toBeUndefined();
    await expect(artifact.getArtifact('report')).rejects.toThrow(/Artifact not found for name: report/);
    await expect(artifact.deleteArtifact('report')).rejects.toThrow(/Artifact not found for name: report/);

    const again = await artifact.uploadArtifact('report', [join(second, 'report.txt')], second);
    expect(server.artifacts().filter((a) => a.name === 'report')).toEqual([
      expect.objectContaining({ id: again.id, runId: 51, attempt: 2, finalized: true }),
    ]);
    const path = join(scratch, 'report');
    await artifact.downloadArtifact(again.id!, { path });
    expect(await readFile(join(path, 'report.txt'), 'utf8')).toBe('attempt 2');
    // Another run may use the name.
    const other = await beRun(52);
    await writeFile(join(other, 'report.txt'), 'run 52');
    expect((await artifact.uploadArtifact('report', [join(other, 'report.txt')], other)).id).toBeGreaterThan(again.id!);
  });

  const ledgers: { runId: number; id: number }[] = [];
  test("the repository list pages through every artifact of a name, expired ones too, with each run's head", async () => {
    const runs: [number, Omit<RunOptions, 'runId'>][] = [
      [61, {}],
      [62, { ref: 'refs/heads/feature', event: 'push' }],
      [63, { pullRequest: { number: 12, head: 'patch-1', headRepository: 'fork-owner/octo-repo' } }],
      [64, { pullRequest: { number: 13, head: 'topic' } }],
      [65, { ref: 'refs/tags/v1.0.0', event: 'push' }],
    ];
    for (const [runId, run] of runs) {
      const workspace = await beRun(runId, run);
      await writeFile(join(workspace, 'ledger.txt'), `run ${runId}`);
      ledgers.push({ runId, id: (await artifact.uploadArtifact('ledger', [join(workspace, 'ledger.txt')], workspace)).id! });
    }
    server.expireArtifact(ledgers[0]!.id);

    const pages: RestArtifact[][] = [];
    for (const page of [1, 2, 3, 4]) {
      const { status, body } = await rest<RestArtifactList>(
        `/repos/${server.repository}/actions/artifacts?name=ledger&per_page=2&page=${page}`,
      );
      expect(status).toBe(200);
      expect(body.total_count).toBe(5);
      pages.push(body.artifacts);
    }
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1, 0]);
    const listed = pages.flat();
    expect(listed.map((a) => a.id)).toEqual(ledgers.map((l) => l.id).reverse());
    const fork = server.addRepository('fork-owner/octo-repo');
    expect(fork.fork).toBe(true);
    expect(fork.id).not.toBe(server.repositoryId);
    const home = { repository_id: server.repositoryId, head_repository_id: server.repositoryId };
    const byRun = new Map(listed.map((a) => [a.workflow_run.id, a]));
    expect(byRun.get(61)).toMatchObject({
      expired: true,
      workflow_run: { ...home, head_branch: 'main', head_sha: expect.stringMatching(/^[0-9a-f]{40}$/) },
    });
    expect(byRun.get(62)).toMatchObject({ expired: false, workflow_run: { ...home, head_branch: 'feature' } });
    expect(byRun.get(63)).toMatchObject({
      expired: false,
      workflow_run: { repository_id: server.repositoryId, head_repository_id: fork.id, head_branch: 'patch-1' },
    });
    expect(byRun.get(64)).toMatchObject({ workflow_run: { ...home, head_branch: 'topic' } });
    expect(byRun.get(65)).toMatchObject({ workflow_run: { ...home, head_branch: 'v1.0.0' } });

    // Without a name: every finalized artifact of the repository, newest first; 30 a page unless asked.
    const finalized = server
      .artifacts()
      .filter((a) => a.finalized && a.repository === server.repository)
      .map((a) => a.id)
      .sort((a, b) => b - a);
    const all = await rest<RestArtifactList>(`/repos/${server.repository}/actions/artifacts?per_page=100`);
    expect(all.body.total_count).toBe(finalized.length);
    expect(all.body.artifacts.map((a) => a.id)).toEqual(finalized);
    expect(all.body.artifacts.filter((a) => a.expired).map((a) => a.id)).toContain(ledgers[0]!.id);
    const firstPage = await rest<RestArtifactList>(`/repos/${server.repository}/actions/artifacts`);
    expect(firstPage.body.artifacts.map((a) => a.id)).toEqual(finalized.slice(0, 30));
  });

  test("an expired artifact's zip is 410 Gone, and its run no longer lists it; a live one redirects to its blob", async () => {
    const gone = await rest(`/repos/${server.repository}/actions/artifacts/${ledgers[0]!.id}/zip`);
    expect(gone).toMatchObject({ status: 410, body: { message: 'Artifact has expired' } });
    const live = await rest(`/repos/${server.repository}/actions/artifacts/${ledgers[1]!.id}/zip`);
    expect(live.status).toBe(302);
    expect(live.location).toMatch(/\/blob\/artifacts\//);
    expect((await rest<RestArtifact>(`/repos/${server.repository}/actions/artifacts/${ledgers[0]!.id}`)).body.expired).toBe(true);
    await beRun(61);
    expect((await artifact.listArtifacts()).artifacts).toEqual([]);
    await expect(artifact.getArtifact('ledger')).rejects.toThrow(/Artifact not found for name: ledger/);
  });

  test('GET /repos/{owner}/{repo} answers id, default branch and full name of a known repository', async () => {
    expect(await rest(`/repos/${server.repository}`)).toMatchObject({
      status: 200,
      body: { id: server.repositoryId, full_name: server.repository, default_branch: 'main', fork: false },
    });
    const fork = server.addRepository('fork-owner/octo-repo');
    expect(await rest('/repos/fork-owner/octo-repo')).toMatchObject({
      status: 200,
      body: { id: fork.id, full_name: 'fork-owner/octo-repo', default_branch: 'main', fork: true },
    });
    expect((await rest('/repos/nobody/nothing')).status).toBe(404);
  });
});

describe('the server itself', () => {
  const payloadOf = async (env: Record<string, string>): Promise<Record<string, unknown>> =>
    JSON.parse(await readFile(env.GITHUB_EVENT_PATH!, 'utf8')) as Record<string, unknown>;

  test("a run's env: ref, event and its payload, repository id; a bare run is today's nightly on main", async () => {
    const plain = server.env({ runId: 81 });
    expect(plain).toMatchObject({
      GITHUB_REF: 'refs/heads/main',
      GITHUB_REF_NAME: 'main',
      GITHUB_REF_TYPE: 'branch',
      GITHUB_EVENT_NAME: 'schedule',
      GITHUB_REPOSITORY: server.repository,
      GITHUB_REPOSITORY_ID: String(server.repositoryId),
      GITHUB_RUN_ATTEMPT: '1',
    });
    expect(plain.GITHUB_HEAD_REF).toBeUndefined();
    expect(await payloadOf(plain)).toMatchObject({
      repository: { id: server.repositoryId, full_name: server.repository, default_branch: 'main' },
    });

    const fork = server.addRepository('fork-owner/octo-repo');
    const pr = server.env({
      runId: 82,
      attempt: 3,
      pullRequest: { number: 12, base: 'release', head: 'patch-1', headRepository: 'fork-owner/octo-repo' },
    });
    expect(pr).toMatchObject({
      GITHUB_REF: 'refs/pull/12/merge',
      GITHUB_REF_NAME: '12/merge',
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_HEAD_REF: 'patch-1',
      GITHUB_BASE_REF: 'release',
      GITHUB_RUN_ATTEMPT: '3',
    });
    expect(await payloadOf(pr)).toMatchObject({
      number: 12,
      pull_request: {
        number: 12,
        head: { ref: 'patch-1', repo: { id: fork.id, full_name: 'fork-owner/octo-repo', fork: true } },
        base: { ref: 'release', repo: { id: server.repositoryId, full_name: server.repository } },
      },
      repository: { id: server.repositoryId, default_branch: 'main' },
    });
    expect(JSON.parse(claimsOf(pr.ACTIONS_RUNTIME_TOKEN!).ac as string)).toEqual([
      { Scope: 'refs/pull/12/merge', Permission: 3 },
      { Scope: 'refs/heads/release', Permission: 1 },
      { Scope: 'refs/heads/main', Permission: 1 },
    ]);

    expect(server.env({ runId: 83, ref: 'refs/tags/v1', event: 'push' })).toMatchObject({
      GITHUB_REF: 'refs/tags/v1',
      GITHUB_REF_NAME: 'v1',
      GITHUB_REF_TYPE: 'tag',
      GITHUB_EVENT_NAME: 'push',
    });
    // pull_request_target runs on the base branch, with the pull request in its payload.
    const target = server.env({ runId: 84, event: 'pull_request_target', pullRequest: { number: 12, base: 'release' } });
    expect(target).toMatchObject({ GITHUB_REF: 'refs/heads/release', GITHUB_EVENT_NAME: 'pull_request_target' });
    expect(await payloadOf(target)).toMatchObject({ pull_request: { number: 12, base: { ref: 'release' } } });
    expect(() => server.env({ runId: 85, ref: 'main' })).toThrow(/refs\/heads/);
    expect(() => server.env({ runId: 85, ref: 'refs/heads/x', pullRequest: { number: 1 } })).toThrow(/refs\/pull\/1\/merge/);
  });

  test('runAction gives the bundled action the env of the run it is told', async () => {
    const run = await runAction(server, { runId: 86, attempt: 2, pullRequest: { number: 5, head: 'topic' } }, {});
    expect(run.env).toMatchObject({
      GITHUB_RUN_ID: '86',
      GITHUB_RUN_ATTEMPT: '2',
      GITHUB_REF: 'refs/pull/5/merge',
      GITHUB_REF_NAME: '5/merge',
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_REPOSITORY_ID: String(server.repositoryId),
    });
    expect(await payloadOf(run.env)).toMatchObject({ pull_request: { head: { ref: 'topic', repo: { id: server.repositoryId } } } });
    expect(JSON.parse(claimsOf(run.env.ACTIONS_RUNTIME_TOKEN!).ac as string)).toEqual([
      { Scope: 'refs/pull/5/merge', Permission: 3 },
      { Scope: 'refs/heads/main', Permission: 1 },
    ]);
    // As before: an event name alone changes the name, not the ref.
    const bare = await runAction(server, { runId: 87, event: 'pull_request' }, {});
    expect(bare.env).toMatchObject({ GITHUB_EVENT_NAME: 'pull_request', GITHUB_REF: 'refs/heads/main' });
  });

  test('a repository whose default branch is not main: runs default to it, and every run may read its scope', async () => {
    const other = await startActionsServer({ repository: 'acme/widgets', defaultBranch: 'trunk' });
    try {
      const env = other.env({ runId: 1 });
      expect(env).toMatchObject({
        GITHUB_REF: 'refs/heads/trunk',
        GITHUB_REF_NAME: 'trunk',
        GITHUB_REPOSITORY_ID: String(other.repositoryId),
      });
      expect(await payloadOf(env)).toMatchObject({ repository: { full_name: 'acme/widgets', default_branch: 'trunk' } });
      expect(JSON.parse(claimsOf(other.runtimeToken({ runId: 2, ref: 'refs/heads/feature' })).ac as string)).toEqual([
        { Scope: 'refs/heads/feature', Permission: 3 },
        { Scope: 'refs/heads/trunk', Permission: 1 },
      ]);
      const answer = await request(`${other.url}/repos/acme/widgets`, { headers: { authorization: `token ${other.token}` } });
      expect(await answer.body.json()).toMatchObject({ id: other.repositoryId, full_name: 'acme/widgets', default_branch: 'trunk' });
    } finally {
      await other.stop();
    }
  });

  test('twirp calls need a runtime token it issued', async () => {
    const call = (authorization?: string) =>
      request(`${server.url}/twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ key: 'tracker-exact', version: 'x' }),
      });
    const token = server.runtimeToken({ runId: 1 });
    const [header, payload] = token.split('.');
    const forged = `${header}.${payload}.${Buffer.from('not our signature').toString('base64url')}`;
    for (const authorization of [undefined, `Bearer ${forged}`, `Bearer ${server.token}`]) {
      const answer = await call(authorization);
      expect(answer.statusCode).toBe(401);
      expect(await answer.body.json()).toEqual({ code: 'unauthenticated', msg: expect.any(String) });
    }
    const answer = await call(`Bearer ${token}`);
    expect(answer.statusCode).toBe(200);
    expect(await answer.body.json()).toEqual({ ok: false });
  });

  test('the runtime token carries the backend ids @actions/artifact reads', () => {
    const claims = JSON.parse(Buffer.from(server.runtimeToken({ runId: 7, attempt: 2 }).split('.')[1]!, 'base64url').toString()) as {
      scp: string;
    };
    const ids = /Actions\.Results:([0-9a-f-]{36}):([0-9a-f-]{36})/.exec(claims.scp);
    expect(ids).not.toBeNull();
    const again = JSON.parse(Buffer.from(server.runtimeToken({ runId: 7, attempt: 3 }).split('.')[1]!, 'base64url').toString()) as {
      scp: string;
    };
    // Attempts share the run's id, each has its own job id.
    expect(again.scp).toContain(`Actions.Results:${ids![1]}:`);
    expect(again.scp).not.toContain(ids![2]);
  });
});
