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
import { applyEnv, startActionsServer, type ActionsServer } from '../../testkit/actions-server.ts';

let server: ActionsServer;
let restoreEnv = (): void => undefined;
let cache: typeof import('@actions/cache');
let artifact: InstanceType<typeof import('@actions/artifact').DefaultArtifactClient>;
let scratch: string;

/** Becomes run `runId` of the nightly workflow on a fresh runner: process.env as it would set it; the workspace. */
async function beRun(runId: number): Promise<string> {
  restoreEnv();
  await server.resetRunner();
  const env = server.env({ runId });
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
      expect.objectContaining({ id, key: 'tracker-exact', finalized: true, repository: server.repository }),
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
    await expect(artifact.uploadArtifact('once', [join(workspace, 'small.txt')], workspace)).rejects.toThrow(/409/);
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

describe('the server itself', () => {
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
