/**
 * `batch-serialize collect` against the loopback Actions server: tars uploaded by several runs with the real
 * @actions/artifact, as the Action uploads them (PREFIX-NNNNNN-NAME.tar holding the tar and its sidecar), are
 * collected into a sync directory by the real CLI, a child process that gets its token from the environment.
 */
import '../../testkit/quiet-actions-debug.ts';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { writeSidecar } from '../../src/core/archive/sidecar.ts';
import { applyEnv, startActionsServer, type ActionsServer } from '../../testkit/actions-server.ts';
import { proxyTo, startLoopbackServer, type LoopbackServer } from '../support/redirect-server.ts';
import { runCli, type CliResult } from './support/cli.ts';

const PREFIX = 'batch-serialize-batch.csv';
let server: ActionsServer;
let restoreEnv = (): void => undefined;
let artifact: InstanceType<typeof import('@actions/artifact').DefaultArtifactClient>;
let scratch: string;
let sync: string;
/** What each tar uploaded so far holds, by sync name. */
const uploaded = new Map<string, Buffer>();

beforeAll(async () => {
  server = await startActionsServer();
  scratch = await mkdtemp(join(tmpdir(), 'bs-collect-'));
  sync = join(scratch, 'sync');
  restoreEnv = applyEnv(server.env({ runId: 1 }));
  // @actions/github reads GITHUB_API_URL at import: the env has to be in place first.
  artifact = new (await import('@actions/artifact')).DefaultArtifactClient();
});
afterAll(async () => {
  restoreEnv();
  await rm(scratch, { recursive: true, force: true });
  await server?.stop();
});

/** Becomes run `runId` of the nightly on a fresh runner (of the default branch unless `ref` says otherwise); its sync directory. */
async function beRun(runId: number, ref?: string): Promise<string> {
  restoreEnv();
  await server.resetRunner();
  const env = server.env(ref === undefined ? { runId } : { runId, ref });
  restoreEnv = applyEnv(env);
  const dir = join(env.GITHUB_WORKSPACE!, 'sync');
  await mkdir(dir, { recursive: true });
  return dir;
}

interface Upload {
  syncName: string;
  /** Default: random bytes. */
  content?: Buffer;
  /** Default: the right sidecar. */
  sidecar?: string;
  /** Default: `PREFIX-<syncName>`. */
  name?: string;
  extraFile?: boolean;
  /** As versions before the side directory uploaded it: the sidecar beside the tar. */
  legacySidecar?: boolean;
}

/** One run uploads each tar as the Action does: an artifact holding the tar and its sidecar; their ids. */
async function runUploads(runId: number, tars: Upload[]): Promise<number[]> {
  const dir = await beRun(runId);
  const ids: number[] = [];
  for (const tar of tars) {
    const content = tar.content ?? randomBytes(40_000 + Math.floor(Math.random() * 20_000));
    const path = join(dir, tar.syncName);
    await writeFile(path, content);
    let sidecar = await writeSidecar(path, `sha256:${createHash('sha256').update(content).digest('hex')}`);
    if (tar.legacySidecar) await rename(sidecar, (sidecar = `${path}.sha256`));
    if (tar.sidecar !== undefined) await writeFile(sidecar, tar.sidecar);
    const files = [path, sidecar];
    if (tar.extraFile) {
      await writeFile(join(dir, 'notes.txt'), 'not a tar\n');
      files.push(join(dir, 'notes.txt'));
    }
    const result = await artifact.uploadArtifact(tar.name ?? `${PREFIX}-${tar.syncName}`, files, dir, { compressionLevel: 0 });
    ids.push(result.id!);
    if (tar.sidecar === undefined && tar.name === undefined && !tar.extraFile) uploaded.set(tar.syncName, content);
  }
  return ids;
}

const trackerRow = (syncName: string) =>
  `${syncName},localhost:5000/gather:${syncName.slice(0, 6)},sha256:${createHash('sha256').update(syncName).digest('hex')}\n`;
const trackerOf = (syncNames: string[]) => `sync_name,artifact,digest\n${syncNames.map(trackerRow).join('')}`;

/** One run uploads the tracker artifact as the Action does: record-keeping.csv and its ledger in batch-serialize/; its id. */
async function uploadTracker(runId: number, syncNames: string[], ref?: string): Promise<number> {
  const dir = await beRun(runId, ref);
  await mkdir(join(dir, 'batch-serialize'));
  const files = [join(dir, 'record-keeping.csv'), join(dir, 'batch-serialize', 'record-keeping.ledger.jsonl')];
  await writeFile(files[0]!, trackerOf(syncNames));
  await writeFile(files[1]!, `{"run":${runId}}\n`);
  return (await artifact.uploadArtifact(`${PREFIX}-tracker`, files, dir, { compressionLevel: 0 })).id!;
}

/** A machine with a token and nothing else of GitHub's: only what we give it. */
function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

/** The CLI's collect; whatever it prints never holds the token. */
async function collect(args: string[] = [], env = baseEnv({ GITHUB_TOKEN: server.token })): Promise<CliResult> {
  const result = await runCli(['collect', sync, '--prefix', PREFIX, '--repo', server.repository, '--api-url', server.url, ...args], {
    env,
  });
  expect(result.stdout).not.toContain(server.token);
  expect(result.stderr).not.toContain(server.token);
  return result;
}

/** Downloads of tar artifacts (the small tracker artifact is fetched each time: only its content says whether it is new). */
const zipDownloads = () => {
  const trackers = server.artifacts().filter((a) => a.name === `${PREFIX}-tracker`);
  const isTracker = (path: string) => trackers.some((a) => path.endsWith(`/artifacts/${a.id}/zip`));
  return server.requests().filter((r) => r.method === 'GET' && r.path.endsWith('/zip') && !isTracker(r.path)).length;
};
const listing = async () => (await readdir(sync)).sort();

/** Each tar collected holds what was uploaded, its sidecar in batch-serialize/, as `sha256sum -c` wants it from the sync directory. */
async function expectCollected(syncName: string): Promise<void> {
  const content = await readFile(join(sync, syncName));
  expect(content.equals(uploaded.get(syncName)!)).toBe(true);
  const hex = createHash('sha256').update(content).digest('hex');
  expect(await readFile(join(sync, 'batch-serialize', `${syncName}.sha256`), 'utf8')).toBe(`${hex}  ${syncName}\n`);
  expect(execFileSync('sha256sum', ['-c', `batch-serialize/${syncName}.sha256`], { cwd: sync, encoding: 'utf8' })).toBe(
    `${syncName}: OK\n`,
  );
}

describe('collect', () => {
  test('several runs: every tar of the prefix lands in an empty directory, checked; tracker backups and others are left', async () => {
    await runUploads(11, [{ syncName: '000001-tools.tar' }]);
    const tracker = await uploadTracker(11, ['000001-tools.tar']);
    await runUploads(12, [{ syncName: '000002-tools.tar.zst' }, { syncName: '000003-base.tar.gz', legacySidecar: true }]);
    // Another batch list's tars, and a tar named bare (no prefix): not this prefix's.
    await runUploads(12, [
      { syncName: '000001-other.tar', name: 'batch-serialize-other.csv-000001-other.tar' },
      { syncName: '000004-tools.tar', name: '000004-tools.tar' },
    ]);

    const result = await collect();
    expect(result.code, result.stderr).toBe(0);
    // Only tars and a folder at the top: ace-dt's batch-deserialize takes every other non-.csv file for a tar.
    expect(await listing()).toEqual([
      '000001-tools.tar',
      '000002-tools.tar.zst',
      '000003-base.tar.gz',
      'batch-serialize',
      'record-keeping.csv',
    ]);
    // The tracker comes with its ledger, so that verify here can tell numbers never shipped from missing tars.
    expect(await readFile(join(sync, 'record-keeping.csv'), 'utf8')).toBe(trackerOf(['000001-tools.tar']));
    expect(await readFile(join(sync, 'batch-serialize', 'record-keeping.ledger.jsonl'), 'utf8')).toBe('{"run":11}\n');
    expect(result.stdout).toContain(`Tracker: ${PREFIX}-tracker (id ${tracker}, run 11), 1 row(s) up to 000001: collected`);
    for (const syncName of ['000001-tools.tar', '000002-tools.tar.zst', '000003-base.tar.gz']) await expectCollected(syncName);
    expect(result.stdout).toMatch(/000001-tools\.tar\s+batch-serialize-batch\.csv-000001-tools\.tar \(id \d+\)\s+11\s/);
    expect(result.stdout).toMatch(/000003-base\.tar\.gz\s+batch-serialize-batch\.csv-000003-base\.tar\.gz \(id \d+\)\s+12\s/);
    expect(result.stdout).toContain('Done: collected 3 tar(s)');
    expect(result.stderr).toContain('000002-tools.tar.zst: checked against its sidecar, collected');
  });

  test('a second collect downloads no tar again', async () => {
    const before = zipDownloads();
    const result = await collect(['--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(zipDownloads()).toBe(before);
    const json = JSON.parse(result.stdout) as { ok: boolean; collected: unknown[]; present: string[]; problems: unknown[] };
    expect(json).toMatchObject({ ok: true, collected: [], problems: [] });
    expect(json.present).toEqual(['000001-tools.tar', '000002-tools.tar.zst', '000003-base.tar.gz']);
  });

  test('an expired artifact whose tar is not here is named loudly; the others are collected all the same', async () => {
    const [expiredId] = await runUploads(13, [{ syncName: '000004-tools.tar' }, { syncName: '000005-base.tar' }]);
    server.expireArtifact(expiredId!);
    // An expired artifact whose tar is here already is no problem.
    server.expireArtifact(server.artifacts().find((a) => a.name === `${PREFIX}-000001-tools.tar`)!.id);

    const result = await collect();
    expect(result.code).toBe(1);
    await expectCollected('000005-base.tar');
    expect(await listing()).not.toContain('000004-tools.tar');
    const problem = `000004-tools.tar: artifact ${PREFIX}-000004-tools.tar (id ${expiredId}) has expired and it is not here`;
    expect(result.stdout).toContain(problem);
    expect(result.stdout).toContain('the far side will see a gap at 000004');
    expect(result.stderr).toContain(problem);
    expect(result.stdout).toMatch(/FAILED: 1 problem\(s\); collected 1 tar\(s\), .* 3 tar\(s\) already here/);
  });

  test('a tar that does not match its sidecar, or a zip holding more than the pair, is refused with nothing left behind', async () => {
    const before = await listing();
    const [wrongHash, wrongName, extra] = await runUploads(14, [
      { syncName: '000006-tools.tar', sidecar: `${'0'.repeat(64)}  000006-tools.tar\n` },
      { syncName: '000007-base.tar', sidecar: `${'1'.repeat(64)}  000001-tools.tar\n` },
      { syncName: '000008-tools.tar', extraFile: true },
    ]);

    const result = await collect(['--json']);
    expect(result.code).toBe(1);
    expect(await listing()).toEqual(before);
    const { problems } = JSON.parse(result.stdout) as { problems: Array<{ syncName: string; artifact: { id: number }; message: string }> };
    const about = (syncName: string) => problems.find((p) => p.syncName === syncName);
    expect(about('000006-tools.tar')).toMatchObject({ artifact: { id: wrongHash } });
    expect(about('000006-tools.tar')?.message).toMatch(
      new RegExp(
        `artifact ${PREFIX}-000006-tools\\.tar \\(id ${wrongHash}\\) is refused, its tar does not match its sidecar: ` +
          `batch-serialize/000006-tools\\.tar\\.sha256 says sha256 0{64}, the file hashes to [0-9a-f]{64}; nothing was kept`,
      ),
    );
    expect(about('000007-base.tar')?.message).toContain(
      `artifact ${PREFIX}-000007-base.tar (id ${wrongName}) is refused, its tar does not match its sidecar: ` +
        'batch-serialize/000007-base.tar.sha256 names "000001-tools.tar", not 000007-base.tar',
    );
    expect(about('000008-tools.tar')?.message).toBe(
      `artifact ${PREFIX}-000008-tools.tar (id ${extra}): its zip is refused: unexpected entry "notes.txt" ` +
        '(expected only 000008-tools.tar, batch-serialize/000008-tools.tar.sha256, 000008-tools.tar.sha256); nothing was kept',
    );
    expect(about('000004-tools.tar')?.message).toContain('has expired');
  });

  test('a file here that differs from the artifact is named and never replaced', async () => {
    // A sidecar here without its tar, saying something else; a tar here that no longer matches its sidecar.
    await runUploads(15, [{ syncName: '000009-tools.tar' }]);
    await writeFile(join(sync, 'batch-serialize', '000009-tools.tar.sha256'), `${'2'.repeat(64)}  000009-tools.tar\n`);
    const damaged = Buffer.from(uploaded.get('000002-tools.tar.zst')!);
    damaged[100] = damaged[100]! ^ 0xff;
    await writeFile(join(sync, '000002-tools.tar.zst'), damaged);

    const result = await collect();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      new RegExp(`000009-tools\\.tar\\.sha256 is here and differs from the one in artifact ${PREFIX}-000009-tools\\.tar \\(id \\d+\\)`),
    );
    expect(result.stdout).toContain('000002-tools.tar.zst is here but does not match its sidecar:');
    expect(await readFile(join(sync, 'batch-serialize', '000009-tools.tar.sha256'), 'utf8')).toBe(`${'2'.repeat(64)}  000009-tools.tar\n`);
    expect(await listing()).not.toContain('000009-tools.tar');
    expect((await readFile(join(sync, '000002-tools.tar.zst'))).equals(damaged)).toBe(true);

    // Put right by hand, the next collect completes the pair.
    await rm(join(sync, 'batch-serialize', '000009-tools.tar.sha256'));
    await writeFile(join(sync, '000002-tools.tar.zst'), uploaded.get('000002-tools.tar.zst')!);
    const again = await collect(['--json']);
    expect((JSON.parse(again.stdout) as { collected: Array<{ syncName: string }> }).collected.map((t) => t.syncName)).toEqual([
      '000009-tools.tar',
    ]);
    await expectCollected('000009-tools.tar');
  });

  test("the tracker: the default branch's newest, when it continues the one here; never another branch's; differences named", async () => {
    const here = join(sync, 'record-keeping.csv');
    const state = async () => (JSON.parse((await collect(['--json'])).stdout) as { tracker: unknown }).tracker;
    // Another branch keeps its own tracker: never believed, however new.
    await uploadTracker(20, ['000001-tools.tar', '000002-tools.tar.zst', '000003-base.tar.gz'], 'refs/heads/feature');
    expect(await state()).toMatchObject({ state: 'same', rows: 1 });
    expect(await readFile(here, 'utf8')).toBe(trackerOf(['000001-tools.tar']));

    const longer = await uploadTracker(21, ['000001-tools.tar', '000002-tools.tar.zst']);
    expect(await state()).toMatchObject({ state: 'taken', rows: 2, highest: 2, artifact: { id: longer, runId: 21 } });
    expect(await readFile(here, 'utf8')).toBe(trackerOf(['000001-tools.tar', '000002-tools.tar.zst']));
    expect(await readFile(join(sync, 'batch-serialize', 'record-keeping.ledger.jsonl'), 'utf8')).toBe('{"run":21}\n');

    const differs = await uploadTracker(22, ['000001-tools.tar', '000002-other.tar', '000003-base.tar.gz']);
    const refused = await collect();
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(
      `${here} and the tracker of artifact ${PREFIX}-tracker (id ${differs}) differ at row 2 (here 000002-tools.tar.zst, ` +
        'there 000002-other.tar): left as it is',
    );
    expect(await readFile(here, 'utf8')).toBe(trackerOf(['000001-tools.tar', '000002-tools.tar.zst']));

    // One that records less than the one here (a run restored an older tracker) is kept out, with a note.
    await uploadTracker(23, ['000001-tools.tar']);
    const behind = await collect();
    expect(behind.stdout).not.toContain('differ at row');
    expect(behind.stdout).toContain(`${here} records tars up to 000002, the newest tracker artifact ${PREFIX}-tracker`);
    expect(behind.stdout).toContain('only up to 000001: the one here is kept');
    expect(await readFile(here, 'utf8')).toBe(trackerOf(['000001-tools.tar', '000002-tools.tar.zst']));
  });

  test('defaults from the env (GITHUB_REPOSITORY, GITHUB_API_URL, GH_TOKEN); a bad token names the host, never the token', async () => {
    const env = baseEnv({ GITHUB_REPOSITORY: server.repository, GITHUB_API_URL: server.url, GH_TOKEN: server.token });
    const defaults = await runCli(['collect', sync, '--prefix', PREFIX, '--json'], { env });
    expect(JSON.parse(defaults.stdout)).toMatchObject({ repository: server.repository, prefix: PREFIX });
    expect(defaults.stdout + defaults.stderr).not.toContain(server.token);

    const wrong = `ghs_${randomBytes(18).toString('base64url')}`;
    const denied = await collect([], baseEnv({ GITHUB_TOKEN: wrong }));
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(
      `${new URL(server.url).host}: GET /repos/${server.repository}/actions/artifacts?per_page=100&page=1: 401`,
    );
    expect(denied.stdout + denied.stderr).not.toContain(wrong);

    const none = await runCli(['collect', sync, '--prefix', PREFIX, '--repo', server.repository], { env: baseEnv() });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('collect needs a GitHub token in GITHUB_TOKEN or GH_TOKEN');
  });
});

describe('the token', () => {
  let api: LoopbackServer;
  let blobs: LoopbackServer;

  beforeAll(async () => {
    // Two hosts of our own in front of the server: the API, and the storage its redirects point at.
    blobs = await startLoopbackServer((req, res) => proxyTo(server.url, req, res, { targetHost: true }));
    api = await startLoopbackServer((req, res) => proxyTo(server.url, req, res, { targetHost: true, redirectTo: blobs.origin }));
  });
  afterAll(async () => {
    await api?.stop();
    await blobs?.stop();
  });

  test('goes to the API only: the redirect to the zip is followed without it', async () => {
    await runUploads(16, [{ syncName: '000010-tools.tar' }]);
    const result = await runCli(['collect', sync, '--prefix', PREFIX, '--repo', server.repository, '--api-url', api.origin], {
      env: baseEnv({ GITHUB_TOKEN: server.token }),
    });
    expect(result.stdout).toMatch(/000010-tools\.tar\s+batch-serialize-batch\.csv-000010-tools\.tar/);
    await expectCollected('000010-tools.tar');
    expect(api.requests.length).toBeGreaterThan(0);
    for (const request of api.requests) expect(request.headers.authorization).toBe(`Bearer ${server.token}`);
    // One download per artifact not here yet (the refused ones of earlier tests come again), none with the token.
    expect(blobs.requests.length).toBeGreaterThan(0);
    for (const request of blobs.requests) expect([request.method, request.headers.authorization]).toEqual(['GET', undefined]);
  });
});
