import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runAction, type ActionRun } from '../../testkit/action-run.ts';
import { startActionsServer, type ActionsServer, type RunOptions } from '../../testkit/actions-server.ts';
import { startHtpasswdRegistry, type AuthRegistry } from './support/auth-registry.ts';
import { manifestsChildrenFirst, pushImageSet, tutorialImages, type TutorialImages } from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';
import { blobDigests, readTar } from './support/tar-contents.ts';
import { runCli } from './support/cli.ts';

const exec = promisify(execFile);
let registry: RunningRegistry;
let server: ActionsServer;
let images: TutorialImages;
let scratch: string;
let runId = 1000;

beforeAll(async () => {
  [registry, server, images] = await Promise.all([startRegistry(), startActionsServer(), tutorialImages()]);
  await pushImageSet(registry.url, 'gather', 'sources1', images.sources1);
  await pushImageSet(registry.url, 'gather', 'sources2', images.sources2);
  scratch = await mkdtemp(join(tmpdir(), 'bs-action-'));
});
afterAll(async () => {
  await Promise.all([registry?.stop(), server?.stop()]);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});
// Each hosted run starts on a fresh machine: only the cache and the artifacts carry state between runs.
beforeEach(() => server.resetRunner());

const ref = (tag: string) => `${registry.host}/gather:${tag}`;

/** One job: a fresh runner, the batch list checked out in its workspace, the bundled action; a new run unless given. */
async function job(run: Partial<RunOptions>, rows: string[], inputs: Record<string, string> = {}): Promise<ActionRun> {
  await server.resetRunner();
  const options: RunOptions = { ...run, runId: run.runId ?? ++runId };
  const workspace = server.env(options).GITHUB_WORKSPACE as string;
  await writeFile(join(workspace, 'batch.csv'), ['name,artifact', ...rows].join('\n') + '\n');
  return runAction(server, options, { 'github-token': server.token, ...inputs });
}

/** One nightly run on the default branch. */
function nightly(rows: string[], inputs: Record<string, string> = {}, event = 'schedule'): Promise<ActionRun> {
  return job({ event }, rows, inputs);
}

/** The tar artifacts of a prefix, in upload order (every attempt's): a name must never come twice. */
const tarArtifactNames = (prefix: string) =>
  server
    .artifacts()
    .filter((a) => a.finalized && new RegExp(`^${prefix}-\\d{6}-`).test(a.name))
    .map((a) => a.name);

/** The tar in artifact `PREFIX-SYNC-NAME`, downloaded and unzipped, its sidecar checked. */
async function tarFromArtifact(prefix: string, name: string): Promise<string> {
  const artifact = server.artifacts().find((a) => a.name === `${prefix}-${name}` && a.finalized);
  if (!artifact) throw new Error(`no artifact ${prefix}-${name}`);
  const dir = await mkdtemp(join(scratch, 'artifact-'));
  await writeFile(join(dir, 'a.zip'), await server.artifactZip(artifact.id));
  await exec('unzip', ['-q', 'a.zip'], { cwd: dir });
  // The checksum travels in the same artifact as its tar, in the side directory.
  await exec('sha256sum', ['-c', `batch-serialize/${name}.sha256`], { cwd: dir });
  return join(dir, name);
}

const nonManifest = (set: { blobs: Map<string, Uint8Array> } & Parameters<typeof manifestsChildrenFirst>[0]) => {
  const manifests = new Set(manifestsChildrenFirst(set).map((m) => m.digest));
  return [...set.blobs.keys()].filter((d) => !manifests.has(d));
};

describe('nightly runs on the real cache and artifact services', () => {
  test('first full, second incremental, third nothing new', async () => {
    const prefix = 'nightly';
    const first = await nightly([`tools,${ref('sources1')}`], { 'cache-key-prefix': prefix });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.outputs.shipped).toBe('1');
    expect(JSON.parse(first.outputs.tars ?? '[]')).toEqual([expect.stringMatching(/000001-tools\.tar$/)]);
    expect(first.outputs).toMatchObject({ 'saved-key': `${prefix}-${runId}-1`, 'tracker-source': 'none', 'cache-hit': 'false' });
    expect(first.summary).toMatch(/No tracker found/);
    expect(Object.keys(JSON.parse(first.outputs['artifact-ids'] ?? '{}'))).toEqual(['000001-tools.tar']);

    // The uploaded tar, downloaded back from the artifact store, is read by skopeo.
    const full = await tarFromArtifact(prefix, '000001-tools.tar');
    const { stdout } = await exec('skopeo', ['inspect', '--raw', `oci-archive:${full}:${ref('sources1')}`]);
    expect(JSON.parse(stdout)).toMatchObject({ artifactType: 'application/vnd.act3-ace.data.gather+json' });

    const second = await nightly([`tools,${ref('sources1')}`, `tools,${ref('sources2')}`], { 'cache-key-prefix': prefix });
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toContain(`Restored the tracker from the cache entry ${prefix}-${runId - 1}-1`);
    expect(second.summary).toContain(`cache entry <code>${prefix}-${runId - 1}-1</code>`);
    expect(second.summary).toMatch(
      new RegExp(
        String.raw`<tr><td>000002-tools\.tar</td><td>[^<]+gather:sources2</td>` +
          String.raw`<td>\d+</td><td>[^<]+</td><td>[^<]+ \(5 blobs\)</td><td>\d+</td></tr>`,
      ),
    );
    expect(second.summary.match(/<td>/g)?.length).toBe(second.summary.match(/<\/td>/g)?.length);
    const incremental = blobDigests(await readTar(await tarFromArtifact(prefix, '000002-tools.tar')));
    for (const digest of nonManifest(images.sources1)) expect(incremental.has(digest)).toBe(false);
    expect(Number(second.outputs.bytes)).toBeLessThan(Number(first.outputs.bytes));

    const third = await nightly([`tools,${ref('sources1')}`, `tools,${ref('sources2')}`], { 'cache-key-prefix': prefix });
    expect(third.code).toBe(0);
    expect(third.outputs).toMatchObject({ shipped: '0', skipped: '1', tars: '[]', 'restored-key': `${prefix}-${runId - 1}-1` });
    expect(third.outputs).toMatchObject({ 'saved-key': '', 'cache-hit': 'true', 'tracker-source': 'cache' });
    expect(third.summary).toMatch(/Nothing new to serialize/);
    expect(
      server
        .caches()
        .filter((c) => c.key.startsWith(`${prefix}-`))
        .map((c) => c.key),
    ).toEqual([`${prefix}-${runId - 2}-1`, `${prefix}-${runId - 1}-1`]);
    const tarArtifacts = server
      .artifacts()
      .filter((a) => a.name.endsWith('-tools.tar'))
      .map((a) => a.name);
    expect(tarArtifacts).toEqual([`${prefix}-000001-tools.tar`, `${prefix}-000002-tools.tar`]);
    // A run that ships nothing leaves the tracker as it was: no new cache entry, no new backup.
    expect(server.artifacts().filter((a) => a.name === `${prefix}-tracker`)).toHaveLength(2);
  });

  test('an evicted cache is rebuilt from the newest tracker artifact, and says so', async () => {
    const prefix = 'evicted';
    expect((await nightly([`tools,${ref('sources1')}`], { 'cache-key-prefix': prefix })).code).toBe(0);
    expect(await server.evictCache(`${prefix}-`)).toBe(1);
    const rebuilt = await nightly([`tools,${ref('sources2')}`], { 'cache-key-prefix': prefix });
    expect(rebuilt.code, rebuilt.stdout).toBe(0);
    expect(rebuilt.summary).toMatch(
      new RegExp(
        `The cache did not have the newest tracker</b> \\(evicted\\?\\): ` +
          `it was taken from artifact <code>${prefix}-tracker</code> of run ${runId - 1}`,
      ),
    );
    expect(rebuilt.stdout).toMatch(/::warning::No cache entry of this prefix: the tracker was rebuilt from artifact evicted-tracker/);
    expect(rebuilt.outputs['tracker-source']).toBe('artifact');
    const tar = blobDigests(await readTar(await tarFromArtifact(prefix, '000002-tools.tar')));
    for (const digest of nonManifest(images.sources1)) expect(tar.has(digest)).toBe(false);
  });

  test('an upload that fails half way: the tracker does not claim it, the next run ships it again', async () => {
    const prefix = 'flaky';
    const rows = [`a,${ref('sources1')}`, `b,${ref('sources2')}`];
    server.failUploads({ artifactName: `${prefix}-000002-b.tar`, afterBytes: 1024, times: 1 });
    const failed = await nightly(rows, { 'cache-key-prefix': prefix });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/::error::.*000002-b\.tar|::error::.*upload/i);
    expect(failed.outputs.shipped).toBe('1');
    expect(failed.summary).toMatch(/The run failed/);
    expect(
      server
        .caches()
        .filter((c) => c.key.startsWith(prefix))
        .map((c) => c.key),
    ).toEqual([`${prefix}-${runId}-1`]);

    const retried = await nightly(rows, { 'cache-key-prefix': prefix });
    expect(retried.code, retried.stdout).toBe(0);
    expect(retried.outputs.shipped).toBe('1');
    expect(JSON.parse(retried.outputs.tars ?? '[]')).toEqual([expect.stringMatching(/000002-b\.tar$/)]);
    expect(server.artifacts().filter((a) => a.name === `${prefix}-000002-b.tar` && a.finalized)).toHaveLength(1);
    expect(server.artifacts().filter((a) => a.name === `${prefix}-000001-a.tar` && a.finalized)).toHaveLength(1);
  });
});

describe('max-file-size: a tar in parts, one artifact per part', () => {
  test('parts uploaded one by one, recorded once all are up; a failed part: shipped again, a new number; collect, verify', async () => {
    const prefix = 'volumes';
    // Layers ten times the tutorial's: each tar takes a few parts of 64 KiB.
    const big = await tutorialImages({ layerScale: 10 });
    await pushImageSet(registry.url, 'volumes', 'sources1', big.sources1);
    await pushImageSet(registry.url, 'volumes', 'sources2', big.sources2);
    const rows = [`a,${registry.host}/volumes:sources1`, `b,${registry.host}/volumes:sources2`];
    const inputs = { 'cache-key-prefix': prefix, 'max-file-size': '64KiB' };
    const syncDirOf = (run: ActionRun) => join(run.env.RUNNER_TEMP as string, 'batch-serialize', prefix);
    const trackerNames = async (run: ActionRun) =>
      (await readFile(join(syncDirOf(run), 'record-keeping.csv'), 'utf8'))
        .trim()
        .split('\n')
        .slice(1)
        .map((row) => row.split(',')[0]);
    const partsOnDisk = async (run: ActionRun) => (await readdir(syncDirOf(run))).filter((name) => name.includes('.part-'));

    // b's second part is refused: its first is up, the tracker does not record b.
    server.failUploads({ artifactName: `${prefix}-000002-b.tar.part-002`, times: 1 });
    const failed = await nightly(rows, inputs);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/::error::.*000002-b\.tar\.part-002/);
    expect(await trackerNames(failed)).toEqual(['000001-a.tar']);
    const aParts = tarArtifactNames(prefix).filter((name) => name.startsWith(`${prefix}-000001-a.tar.part-`));
    expect(aParts.length).toBeGreaterThanOrEqual(4);
    expect(tarArtifactNames(prefix)).toEqual([...aParts, `${prefix}-000002-b.tar.part-001`]);
    // keep-tars false: a's parts went once recorded.
    expect((await partsOnDisk(failed)).filter((name) => name.startsWith('000001-a.tar'))).toEqual([]);

    const retried = await nightly(rows, inputs);
    expect(retried.code, retried.stdout).toBe(0);
    expect(await trackerNames(retried)).toEqual(['000001-a.tar', '000003-b.tar']);
    expect(JSON.parse(retried.outputs.tars ?? '')).toEqual(['000003-b.tar']);
    const bParts = tarArtifactNames(prefix)
      .filter((name) => name.startsWith(`${prefix}-000003-b.tar.part-`))
      .map((name) => name.slice(prefix.length + 1));
    expect(bParts.length).toBeGreaterThanOrEqual(3);
    expect(JSON.parse(retried.outputs['artifact-ids'] ?? '')).toEqual({ '000003-b.tar': bParts.map(() => expect.any(Number)) });
    const shipped = tarArtifactNames(prefix);
    expect(shipped).toEqual([...aParts, `${prefix}-000002-b.tar.part-001`, ...bParts.map((part) => `${prefix}-${part}`)]);
    expect(new Set(shipped).size).toBe(shipped.length);
    expect(await partsOnDisk(retried)).toEqual([]);

    // Each artifact holds its part and the tar's sidecar, which checks it; the parts joined are the tar.
    const joined: Buffer[] = [];
    for (const part of bParts) {
      const artifact = server.artifacts().find((a) => a.name === `${prefix}-${part}` && a.finalized);
      const dir = await mkdtemp(join(scratch, 'part-'));
      await writeFile(join(dir, 'a.zip'), await server.artifactZip(artifact?.id as number));
      await exec('unzip', ['-q', 'a.zip'], { cwd: dir });
      await rm(join(dir, 'a.zip'));
      expect((await readdir(dir, { recursive: true })).sort()).toEqual([part, 'batch-serialize', 'batch-serialize/000003-b.tar.sha256']);
      const { stdout } = await exec('sha256sum', ['-c', '--ignore-missing', 'batch-serialize/000003-b.tar.sha256'], { cwd: dir });
      expect(stdout.trim()).toBe(`${part}: OK`);
      joined.push(await readFile(join(dir, part)));
    }
    expect(joined.slice(0, -1).map((part) => part.byteLength)).toEqual(bParts.slice(1).map(() => 64 * 1024));
    const whole = join(scratch, 'volumes-000003-b.tar');
    await writeFile(whole, Buffer.concat(joined));
    expect((await exec('tar', ['tf', whole])).stdout.split('\n').slice(0, 2)).toEqual(['oci-layout', 'index.json']);

    // collect rebuilds the parts of the recorded tars; verify accepts them.
    const collected = join(scratch, 'volumes-collected');
    const collect = await runCli(['collect', collected, '--prefix', prefix, '--repo', server.repository, '--api-url', server.url], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, GITHUB_TOKEN: server.token },
    });
    expect(collect.code, collect.stdout + collect.stderr).toBe(0);
    // The part of the failed upload is no tar: the far side sees a number never shipped.
    expect(collect.stdout + collect.stderr).toContain(
      `000002-b.tar: 1 of the ${bParts.length} parts its sidecar lists were uploaded, and the tracker does not record it`,
    );
    const collectedParts = (await readdir(collected)).filter((name) => name.includes('.part-')).sort();
    expect(collectedParts).toEqual([...aParts.map((name) => name.slice(prefix.length + 1)), ...bParts]);
    const verified = await runCli(['verify', collected]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout + verified.stderr).toContain('000002-*.tar was never shipped');
  });
});

describe('the tracker on real GitHub (issue 9)', () => {
  test('a refused cache save (rate limit): a warning, no saved-key; the next run takes the newer tracker artifact', async () => {
    const prefix = 'refused';
    expect((await nightly([`tools,${ref('sources1')}`], { 'cache-key-prefix': prefix })).code).toBe(0);
    server.rateLimitCacheSaves({ cacheKeyPrefix: `${prefix}-`, times: 1, retryAfterSeconds: 60 });
    const refused = await nightly([`tools,${ref('sources2')}`], { 'cache-key-prefix': prefix });
    expect(refused.code, refused.stdout).toBe(0);
    expect(refused.stdout).toContain(`::warning::The cache refused to save the tracker as ${prefix}-${runId}-1`);
    expect(refused.outputs['saved-key']).toBe('');

    const next = await nightly([`tools,${ref('sources2')}`], { 'cache-key-prefix': prefix });
    expect(next.code, next.stdout).toBe(0);
    expect(next.outputs).toMatchObject({ 'tracker-source': 'artifact', shipped: '0', skipped: '1' });
    expect(next.stdout).toContain('records tars up to 000002, the cache only up to 000001');
    expect(tarArtifactNames(prefix)).toEqual([`${prefix}-000001-tools.tar`, `${prefix}-000002-tools.tar`]);
  });

  test('a re-run attempt of a run that died after uploading: no 409, each tar once, the tracker records them', async () => {
    const prefix = 'rerun';
    const rows = [`a,${ref('sources1')}`, `b,${ref('sources2')}`];
    server.failUploads({ artifactName: `${prefix}-000002-b.tar`, afterBytes: 1024, times: 1 });
    const id = ++runId;
    const first = await job({ runId: id }, rows, { 'cache-key-prefix': prefix });
    expect(first.code).toBe(1);
    const again = await job({ runId: id, attempt: 2 }, rows, { 'cache-key-prefix': prefix });
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).not.toMatch(/\(409\) Conflict|an artifact with this name already exists/);
    expect(tarArtifactNames(prefix)).toEqual([`${prefix}-000001-a.tar`, `${prefix}-000002-b.tar`]);
    expect(server.artifacts().filter((a) => a.name === `${prefix}-tracker` && a.finalized)).toHaveLength(1);
    expect(again.outputs['saved-key']).toBe(`${prefix}-${id}-2`);
  });

  test('a dispatch on a feature branch plans; forced to serialize, it saves in its own scope; main never reuses its numbers', async () => {
    const prefix = 'branches';
    const planned = await job({ event: 'workflow_dispatch', ref: 'refs/heads/feature' }, [`tools,${ref('sources1')}`], {
      'cache-key-prefix': prefix,
    });
    expect(planned.code, planned.stdout).toBe(0);
    expect(planned.summary).toMatch(/batch-serialize: plan/);
    expect(tarArtifactNames(prefix)).toEqual([]);

    const forced = await job({ event: 'workflow_dispatch', ref: 'refs/heads/feature' }, [`tools,${ref('sources1')}`], {
      'cache-key-prefix': prefix,
      mode: 'serialize',
    });
    expect(forced.code, forced.stdout).toBe(0);
    expect(forced.stdout).toContain('::warning::Serializing on refs/heads/feature, not on the default branch main');
    expect(server.caches().filter((c) => c.key.startsWith(`${prefix}-`))).toEqual([
      expect.objectContaining({ scope: 'refs/heads/feature' }),
    ]);

    const main = await nightly([`tools,${ref('sources1')}`], { 'cache-key-prefix': prefix });
    expect(main.code, main.stdout).toBe(0);
    expect(tarArtifactNames(prefix)).toEqual([`${prefix}-000001-tools.tar`, `${prefix}-000002-tools.tar`]);
  });

  test('a lost tracker (evicted and expired) stops the run; start-over ships everything above every number used', async () => {
    const prefix = 'lost';
    expect((await nightly([`tools,${ref('sources1')}`], { 'cache-key-prefix': prefix })).code).toBe(0);
    await server.evictCache(`${prefix}-`);
    for (const artifact of server.artifacts()) if (artifact.name.startsWith(`${prefix}-`)) server.expireArtifact(artifact.id);

    const stopped = await nightly([`tools,${ref('sources2')}`], { 'cache-key-prefix': prefix });
    expect(stopped.code).toBe(1);
    expect(stopped.stdout).toMatch(/::error::The tracker of lost is lost: no cache entry and no unexpired tracker artifact/);
    expect(stopped.summary).toMatch(/batch-serialize: failed/);
    expect(tarArtifactNames(prefix)).toHaveLength(1);

    const restarted = await nightly([`tools,${ref('sources2')}`], { 'cache-key-prefix': prefix, 'start-over': 'true' });
    expect(restarted.code, restarted.stdout).toBe(0);
    expect(tarArtifactNames(prefix)).toEqual([`${prefix}-000001-tools.tar`, `${prefix}-000002-tools.tar`]);
  });

  test("a fork's pull request that uploads a tracker artifact is not trusted after an eviction", async () => {
    const prefix = 'forked';
    expect((await nightly([`tools,${ref('sources1')}`], { 'cache-key-prefix': prefix })).code).toBe(0);
    server.addRepository('mallory/octo-repo', { fork: true });
    const planted = await job(
      { pullRequest: { number: 7, headRepository: 'mallory/octo-repo' } },
      [`tools,${ref('sources1')}`, `ops,${ref('sources2')}`],
      { 'cache-key-prefix': prefix, mode: 'serialize', 'start-over': 'true' },
    );
    expect(planted.code, planted.stdout).toBe(0);
    await server.evictCache(`${prefix}-`);

    const next = await nightly([`tools,${ref('sources1')}`, `ops,${ref('sources2')}`], { 'cache-key-prefix': prefix });
    expect(next.code, next.stdout).toBe(0);
    expect(next.summary).toContain(`of run ${runId - 2}`);
    expect(next.outputs.shipped).toBe('1');
  });
});

describe('a nightly over a matrix: plan-shards, serialize-shard per shard, record-shards (issue 13)', () => {
  /** The tracker a job left on its runner (read before the next job resets it). */
  const trackerOf = (run: ActionRun, prefix: string) =>
    readFile(join(run.env.RUNNER_TEMP as string, 'batch-serialize', prefix, 'record-keeping.csv'), 'utf8');
  const syncNames = (tracker: string) =>
    tracker
      .trim()
      .split('\n')
      .slice(1)
      .map((row) => row.split(',')[0] as string);

  /** One workflow run: the plan job, a job per matrix entry (each on a fresh runner), then record. */
  async function shardedNight(
    prefix: string,
    rows: string[],
  ): Promise<{ plan: ActionRun; shards: ActionRun[]; record: ActionRun; tracker: string }> {
    const id = ++runId;
    const inputs = { 'cache-key-prefix': prefix };
    const plan = await job({ runId: id }, rows, { ...inputs, mode: 'plan-shards' });
    expect(plan.code, plan.stdout).toBe(0);
    const matrix = JSON.parse(plan.outputs.matrix ?? '') as { include: Array<{ shard: number }> };
    const shards: ActionRun[] = [];
    for (const { shard } of matrix.include)
      shards.push(await job({ runId: id }, [], { ...inputs, mode: 'serialize-shard', shard: String(shard) }));
    const record = await job({ runId: id }, [], { ...inputs, mode: 'record-shards' });
    return { plan, shards, record, tracker: await trackerOf(record, prefix) };
  }

  // Three workflow runs of five jobs and a one-job run: the bundled action starts 14 times.
  test(
    'three shards merge into the one-job tracker, each tar shipped once; a failed shard leaves no trace and ships next time',
    { timeout: 300_000 },
    async () => {
      const rows = [`a,${ref('sources1')}`, `b,${ref('sources2')}`, `c,${ref('sources1')}`];
      const single = await nightly(rows, { 'cache-key-prefix': 'one-job' });
      expect(single.code, single.stdout).toBe(0);
      const oneJob = await trackerOf(single, 'one-job');

      const night = await shardedNight('matrix', rows);
      expect(JSON.parse(night.plan.outputs.matrix ?? '').include).toEqual([
        { shard: 1, tars: '000001-000001', names: 'a', bytes: expect.any(Number) },
        { shard: 2, tars: '000002-000002', names: 'b', bytes: expect.any(Number) },
        { shard: 3, tars: '000003-000003', names: 'c', bytes: expect.any(Number) },
      ]);
      for (const shard of night.shards) expect(shard.code, shard.stdout).toBe(0);
      expect(night.record.code, night.record.stdout).toBe(0);
      expect(night.tracker).toBe(oneJob);
      expect(tarArtifactNames('matrix')).toEqual(syncNames(oneJob).map((name) => `matrix-${name}`));
      for (const name of syncNames(oneJob)) {
        expect(await readFile(await tarFromArtifact('matrix', name))).toEqual(await readFile(await tarFromArtifact('one-job', name)));
      }
      expect(
        server
          .caches()
          .filter((c) => c.key.startsWith('matrix-'))
          .map((c) => c.key),
      ).toEqual([`matrix-${runId}-1`]);

      // b and c move on; b's shard fails: no trace of it, and the next night ships it again above the plan.
      const moved = [`a,${ref('sources1')}`, `b,${ref('sources1')}`, `c,${ref('sources2')}`];
      server.failUploads({ artifactName: 'matrix-000004-b.tar', afterBytes: 1024, times: 1 });
      const failing = await shardedNight('matrix', moved);
      expect(failing.shards.map((shard) => shard.code)).toEqual([1, 0]);
      expect(failing.shards[0]?.summary).toContain('The shard failed');
      expect(failing.record.code, failing.record.stdout).toBe(0);
      expect(failing.record.stdout).toMatch(/::warning::shard 1 of plan 000004-000005 \(000004-000004: b\) confirmed nothing/);
      expect(syncNames(failing.tracker)).toEqual(['000001-a.tar', '000002-b.tar', '000003-c.tar', '000005-c.tar']);

      const healed = await shardedNight('matrix', moved);
      expect(healed.record.code, healed.record.stdout).toBe(0);
      expect(syncNames(healed.tracker)).toEqual(['000001-a.tar', '000002-b.tar', '000003-c.tar', '000005-c.tar', '000006-b.tar']);
      const shipped = tarArtifactNames('matrix');
      expect(shipped).toEqual(syncNames(healed.tracker).map((name) => `matrix-${name}`));
      expect(new Set(shipped).size).toBe(shipped.length);
    },
  );

  test('a run whose plan cannot fit the free disk fails before writing; deleting each tar once uploaded lets it fit', async () => {
    // Two tars of about 700 KB each: both do not fit, one at a time does.
    await pushImageSet(registry.url, 'big', 'sources1', (await tutorialImages({ layerScale: 40 })).sources1);
    const disk = await mkdtemp(join(scratch, 'tmpfs-'));
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=1200k', 'tmpfs', disk]);
    try {
      const rows = [`a,${registry.host}/big:sources1`, `b,${registry.host}/big:sources1`];
      const inputs = { 'cache-key-prefix': 'small-disk', 'sync-directory': join(disk, 'sync') };
      const kept = await nightly(rows, { ...inputs, 'keep-tars': 'true' });
      expect(kept.code).toBe(1);
      const numbers = (line: string) => [...line.matchAll(/\((\d+) bytes\)/g)].map((match) => Number(match[1]));
      const error = kept.stdout.split('\n').find((line) => line.startsWith('::error::')) ?? '';
      expect(error).toMatch(
        /^::error::not enough free space in .*\/sync: [\d.]+ [KM]iB \(\d+ bytes\) free, and the 2 tar\(s\) of this run/,
      );
      expect(error).toMatch(
        /stay there and need up to [\d.]+ MiB \(\d+ bytes\) together \(the largest, 00000\d-\w\.tar, .*Nothing was written\.$/,
      );
      const [free = 0, need = 0, largest = 0] = numbers(error);
      expect(need).toBeGreaterThan(free);
      expect(largest).toBeLessThan(free);
      expect(tarArtifactNames('small-disk')).toEqual([]);
      expect(await readdir(join(disk, 'sync'))).not.toContain('batch-serialize');

      const deleted = await nightly(rows, inputs);
      expect(deleted.code, deleted.stdout).toBe(0);
      expect(JSON.parse(deleted.outputs.tars ?? '')).toEqual(['000001-a.tar', '000002-b.tar']);
      expect(tarArtifactNames('small-disk')).toEqual(['small-disk-000001-a.tar', 'small-disk-000002-b.tar']);
    } finally {
      await exec('umount', [disk]);
    }
  });
});

describe('pull requests plan', () => {
  test('a plan in the summary, against the restored tracker; nothing uploaded or saved', async () => {
    const prefix = 'planned';
    expect((await nightly([`tools,${ref('sources1')}`], { 'cache-key-prefix': prefix })).code).toBe(0);
    const before = { caches: server.caches().length, artifacts: server.artifacts().length };
    const plan = await nightly([`tools,${ref('sources2')}`], { 'cache-key-prefix': prefix }, 'pull_request');
    expect(plan.code, plan.stdout).toBe(0);
    expect(plan.summary).toMatch(/batch-serialize: plan/);
    expect(plan.summary).toContain(`${ref('sources1')} → ${ref('sources2')}`);
    const planned = JSON.parse(plan.outputs.plan ?? '{}') as { planned: Array<{ name: string; blobs: number; deduplicatedBlobs: number }> };
    expect(planned.planned).toEqual([
      expect.objectContaining({
        name: 'tools',
        deduplicatedBlobs: nonManifest(images.sources2).filter((d) => images.sources1.blobs.has(d)).length,
      }),
    ]);
    expect({ caches: server.caches().length, artifacts: server.artifacts().length }).toEqual(before);
  });

  test('a row that cannot be resolved fails the check with the file and line', async () => {
    const plan = await nightly(
      [`tools,${ref('sources1')}`, `ops,${ref('no-such-tag')}`],
      { 'cache-key-prefix': 'planfail' },
      'pull_request',
    );
    expect(plan.code).toBe(1);
    expect(plan.stdout).toMatch(/::error::.*batch\.csv:3: .*no-such-tag/);
  });
});

describe('inputs and secrets', () => {
  test.each([
    [{ compression: 'bzip2' }, /input compression: unknown compression "bzip2"/],
    [{ mode: 'yolo' }, /input mode "yolo": use auto, serialize, plan, plan-shards, serialize-shard or record-shards/],
    [{ 'batch-file': 'missing.csv' }, /missing\.csv: cannot read the batch list/],
    [{ username: 'u' }, /inputs username and password go together/],
    [{ username: 'u', password: 'p' }, /input registry is needed with password/],
  ])('bad input %j fails clearly and ships nothing', async (inputs, message) => {
    const before = server.artifacts().length;
    const result = await nightly([`tools,${ref('sources1')}`], inputs);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(message);
    expect(server.artifacts().length).toBe(before);
  });

  test('a registry password is masked and reaches no log, output, summary, tar or cache', async () => {
    const auth: AuthRegistry = await startHtpasswdRegistry();
    try {
      const basic = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
      await pushImageSet(auth.registry.url, 'private', 'v1', images.sources1, { authorization: basic });
      const result = await nightly([`private,${auth.registry.host}/private:v1`], {
        'cache-key-prefix': 'secret',
        registry: auth.registry.host,
        username: auth.username,
        password: auth.password,
        'keep-tars': 'true', // the tar too
      });
      expect(result.code, result.stdout).toBe(0);
      expect(result.stdout).toContain(`::add-mask::${auth.password}`);
      const everywhere = [
        result.stdout.replace(`::add-mask::${auth.password}`, ''),
        result.stderr,
        result.summary,
        JSON.stringify(result.outputs),
      ];
      const syncDir = join(result.env.RUNNER_TEMP as string, 'batch-serialize', 'secret');
      const files = (await readdir(syncDir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
      expect(files.map((file) => file.name)).toContain('000001-private.tar');
      for (const file of files) everywhere.push((await readFile(join(file.parentPath, file.name))).toString('latin1'));
      for (const text of everywhere) expect(text).not.toContain(auth.password);
    } finally {
      await auth.stop();
    }
  });
});

test('the README documents every input and output of action.yml', async () => {
  const action = parseYaml(await readFile('action.yml', 'utf8')) as { inputs: Record<string, unknown>; outputs: Record<string, unknown> };
  const readme = await readFile('README.md', 'utf8');
  const documented = (heading: string) => {
    const section = readme.split(`### ${heading}`)[1]?.split('\n#')[0] ?? '';
    return [...section.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
  };
  expect(documented('Inputs')).toEqual(Object.keys(action.inputs));
  expect(documented('Outputs')).toEqual(Object.keys(action.outputs));
});
