/**
 * A run split over several machines with the CLI (issue 13, item 4): plan --shards N, serialize --shard K into a
 * directory per shard, record. The CLI as a user runs it (a Node child process), on OCI layouts.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mergeBlobs, tutorialImages, writeOciLayout } from '../../testkit/images.ts';
import { runCliUntil } from '../integration/support/crash.ts';

const CLI = fileURLToPath(new URL('../../bin/batch-serialize.js', import.meta.url));
let scratch: string;
let store: string;
/** The same images with layers ten times larger (sources1 about 215 kB): tars that need several parts of 64 KiB. */
let bigStore: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'bs-cli-shards-'));
  const images = await tutorialImages();
  store = join(scratch, 'store');
  await writeOciLayout(store, mergeBlobs([images.sources1, images.sources2]), [
    { descriptor: images.sources1.root, tag: 'sources1' },
    { descriptor: images.sources2.root, tag: 'sources2' },
  ]);
  const big = await tutorialImages({ layerScale: 10 });
  bigStore = join(scratch, 'big-store');
  await writeOciLayout(bigStore, mergeBlobs([big.sources1, big.sources2]), [
    { descriptor: big.sources1.root, tag: 'sources1' },
    { descriptor: big.sources2.root, tag: 'sources2' },
  ]);
});
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: scratch }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

let workspaces = 0;
/** A fresh folder with the batch list: `a` and `c` sources1, `b` and `d` sources2 unless given. */
async function workspace(
  lines = ['a,sources1', 'b,sources2', 'c,sources1', 'd,sources2'],
  from = store,
): Promise<{ dir: string; batch: string }> {
  const dir = join(scratch, `w${++workspaces}`);
  const batch = join(dir, 'batch.csv');
  await mkdir(dir);
  await writeFile(batch, `name,artifact\n${lines.map((line) => line.replace(/,(.*)$/, `,ocidir://${from}:$1`)).join('\n')}\n`);
  return { dir, batch };
}

interface PlanJson {
  planFile: string | null;
  oneShard: string | null;
  shards: Array<{ shard: number; tars: string; names: string[]; contentBytes: number }>;
}

async function plan(batch: string, sync: string, ...options: string[]): Promise<PlanJson> {
  const result = await cli('plan', batch, sync, '--json', ...options);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as PlanJson;
}

/** Each shard on "its machine": a directory of its own; the records it wrote. */
async function shards(planned: PlanJson, dir: string, only?: number[]): Promise<string[]> {
  const records: string[] = [];
  for (const { shard, tars } of planned.shards) {
    if (only && !only.includes(shard)) continue;
    const result = await cli('serialize', '--shard', String(shard), '--plan', planned.planFile as string, join(dir, `shard-${shard}`));
    expect(result.code, result.stderr).toBe(0);
    records.push(join(dir, `shard-${shard}`, 'batch-serialize', `shard-${tars}.json`));
  }
  return records;
}

const trackerRows = async (sync: string) => (await readFile(join(sync, 'record-keeping.csv'), 'utf8')).trim().split('\n').slice(1);
const tarsIn = async (sync: string) => (await readdir(sync)).filter((name) => name.endsWith('.tar')).sort();

describe('plan, serialize --shard, record', () => {
  test('two shards on two directories merge into the one-job tracker and tars; verify passes', async () => {
    const { dir, batch } = await workspace();
    const single = join(dir, 'single');
    expect((await cli(batch, single)).code).toBe(0);

    const sync = join(dir, 'sync');
    const planned = await plan(batch, sync, '--shards', '2');
    expect(planned.planFile).toBe(join(sync, 'batch-serialize', 'plan-000001-000004.json'));
    // b and d are the larger: one each, with a lighter name; each shard's numbers contiguous.
    expect(planned.shards.map(({ shard, tars, names }) => ({ shard, tars, names }))).toEqual([
      { shard: 1, tars: '000001-000002', names: ['a', 'b'] },
      { shard: 2, tars: '000003-000004', names: ['c', 'd'] },
    ]);
    expect(await readdir(sync)).toEqual(['batch-serialize']);

    const records = await shards(planned, dir);
    const recorded = await cli('record', sync, '--plan', planned.planFile as string, ...records, '--json');
    expect(recorded.code, recorded.stderr).toBe(0);
    expect(JSON.parse(recorded.stdout)).toEqual({
      recorded: ['000001-a.tar', '000002-b.tar', '000003-c.tar', '000004-d.tar'],
      shards: [
        { shard: 1, tars: ['000001-a.tar', '000002-b.tar'], state: 'recorded' },
        { shard: 2, tars: ['000003-c.tar', '000004-d.tar'], state: 'recorded' },
      ],
    });
    expect(await trackerRows(sync)).toEqual(await trackerRows(single));
    expect(await tarsIn(sync)).toEqual(await tarsIn(single));
    for (const tar of await tarsIn(sync)) expect(await readFile(join(sync, tar))).toEqual(await readFile(join(single, tar)));
    expect(await tarsIn(join(dir, 'shard-1'))).toEqual([]);
    expect((await cli('verify', sync)).code).toBe(0);

    // Recording again changes nothing; the next plan has nothing to do.
    const again = await cli('record', sync, '--plan', planned.planFile as string, ...records);
    expect(again.stdout).toContain('Nothing new recorded.');
    expect((await plan(batch, sync, '--shards', '2')).shards).toEqual([]);
  });

  test('a shard that never reports leaves a gap; the next plan numbers above the whole plan and ships it again', async () => {
    const { dir, batch } = await workspace();
    const sync = join(dir, 'sync');
    const planned = await plan(batch, sync, '--shards', '4');
    const records = await shards(planned, dir, [1, 2, 4]);
    const recorded = await cli('record', sync, '--plan', planned.planFile as string, ...records);
    expect(recorded.code).toBe(0);
    expect(recorded.stderr).toContain(
      'warning: shard 3 of plan 000001-000004 (000003-000003: c) confirmed nothing: its numbers stay unused',
    );
    expect(recorded.stdout).toMatch(/3\s+000003-000003\s+c\s+no record: numbers unused/);
    expect((await trackerRows(sync)).map((row) => row.split(',')[0])).toEqual(['000001-a.tar', '000002-b.tar', '000004-d.tar']);

    const next = await plan(batch, sync, '--shards', '4');
    expect(next.shards.map(({ tars, names }) => [tars, names])).toEqual([['000005-000005', ['c']]]);
    // A plain serialize numbers above every plan's reservation too.
    const plain = await cli(batch, sync, '--json');
    expect(JSON.parse(plain.stdout).written.map((tar: { syncName: string }) => tar.syncName)).toEqual(['000006-c.tar']);
    // The tracker travelled: the numbers it skips were never shipped, a note; without it they are a gap, a problem.
    const verified = await cli('verify', sync);
    expect(verified.code, verified.stdout).toBe(0);
    for (const number of ['000003', '000005'])
      expect(verified.stdout + verified.stderr).toContain(`${number}-*.tar was never shipped: the tracker records no tar of that number`);
    await rm(join(sync, 'record-keeping.csv'));
    const blind = await cli('verify', sync);
    expect(blind.code).toBe(1);
    expect(blind.stdout).toContain('000003-*.tar is missing (the numbering has a gap)');
  });

  test('record refuses a tracker that changed since the plan, and records nothing', async () => {
    const { dir, batch } = await workspace();
    const sync = join(dir, 'sync');
    const planned = await plan(batch, sync, '--shards', '2');
    const records = await shards(planned, dir);
    await writeFile(batch, `name,artifact\ne,ocidir://${store}:sources1\n`);
    expect((await cli(batch, sync)).code).toBe(0);
    const before = await readFile(join(sync, 'record-keeping.csv'), 'utf8');
    const refused = await cli('record', sync, '--plan', planned.planFile as string, ...records);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${join(sync, 'record-keeping.csv')} is not the tracker plan 000001-000004 was made from (0 row(s)`);
    expect(refused.stderr).toContain('it records 1 row(s), the newest 000005-e.tar; another run changed it since. Nothing was recorded');
    expect(await readFile(join(sync, 'record-keeping.csv'), 'utf8')).toBe(before);
    expect(await tarsIn(sync)).toEqual(['000005-e.tar']);
  });

  test('a record of another plan, a tar that differs from its record, a shard in the plan directory: refused by name', async () => {
    const { dir, batch } = await workspace(['a,sources1', 'b,sources2']);
    const sync = join(dir, 'sync');
    const planned = await plan(batch, sync, '--shards', '2');
    const planFile = planned.planFile as string;
    const inPlanDir = await cli('serialize', '--shard', '1', '--plan', planFile, sync);
    expect(inPlanDir.code).toBe(1);
    expect(inPlanDir.stderr).toContain(
      `${sync} is the sync directory plan 000001-000002 was made in: give each shard a directory of its own`,
    );
    expect((await cli('serialize', '--shard', '3', '--plan', planFile, join(dir, 'x'))).stderr).toContain(
      `shard 3: plan 000001-000002 (${planFile}) has shards 1 to 2`,
    );

    const [first, second] = await shards(planned, dir);
    await writeFile(join(dir, 'shard-2', '000002-b.tar'), 'not the tar');
    const damaged = await cli('record', sync, '--plan', planFile, first as string, second as string);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toContain(`${join(dir, 'shard-2', '000002-b.tar')}, a tar ${second} records: 11 bytes, not the`);
    expect(await tarsIn(sync)).toEqual([]);

    const other = await workspace(['z,sources1']);
    const otherPlan = await plan(other.batch, join(other.dir, 'sync'), '--shards', '1');
    const [foreign] = await shards(otherPlan, other.dir);
    const mixed = await cli('record', sync, '--plan', planFile, first as string, foreign as string);
    expect(mixed.stderr).toContain(`${foreign}: shard record of plan 000001-000001, not of plan 000001-000002`);
  });

  test('--max-file-size: shards write parts, record checks and moves every part after its sidecar; verify, cat | tar t', async () => {
    const { dir, batch } = await workspace(undefined, bigStore);
    const single = join(dir, 'single');
    expect((await cli(batch, single, '--max-file-size', '64KiB')).code).toBe(0);
    const sync = join(dir, 'sync');
    const planned = await plan(batch, sync, '--shards', '2', '--max-file-size', '64KiB');
    const planFile = planned.planFile as string;
    const records = await shards(planned, dir);
    const filesOf = async (at: string) => (await readdir(at)).filter((name) => name.includes('.tar')).sort();
    const aParts = (await filesOf(join(dir, 'shard-1'))).filter((name) => name.startsWith('000001-a.tar.part-'));
    expect(aParts.length).toBeGreaterThanOrEqual(3);

    // A damaged part is named, and nothing is recorded or moved.
    const damagedPart = join(dir, 'shard-1', '000001-a.tar.part-002');
    const good = await readFile(damagedPart);
    const bad = Buffer.from(good);
    bad[100] = (bad[100] as number) ^ 0xff;
    await writeFile(damagedPart, bad);
    const damaged = await cli('record', sync, '--plan', planFile, ...records);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toContain(`${join(dir, 'shard-1', '000001-a.tar')} (${aParts.length} parts), a tar ${records[0]} records: `);
    expect(damaged.stderr).toContain('000001-a.tar.part-002: checksum mismatch: ');
    expect(await filesOf(sync)).toEqual([]);
    expect(await readdir(join(sync, 'batch-serialize'))).not.toContain('000001-a.tar.sha256');
    await writeFile(damagedPart, good);

    // Killed between two renames of a tar's parts: the sidecar and the first part are here, the rest in the shard.
    const stopped = await runCliUntil('part-renamed:1', ['record', sync, '--plan', planFile, ...records]);
    await stopped.kill();
    expect(await filesOf(sync)).toEqual(['000001-a.tar.part-001']);
    expect(await readdir(join(sync, 'batch-serialize'))).toContain('000001-a.tar.sha256');

    const recorded = await cli('record', sync, '--plan', planFile, ...records);
    expect(recorded.code, recorded.stderr).toBe(0);
    expect(await trackerRows(sync)).toEqual(await trackerRows(single));
    expect(await filesOf(sync)).toEqual(await filesOf(single));
    for (const name of await filesOf(sync)) expect(await readFile(join(sync, name)), name).toEqual(await readFile(join(single, name)));
    for (const name of await readdir(join(single, 'batch-serialize'))) {
      if (name.endsWith('.sha256'))
        expect(await readFile(join(sync, 'batch-serialize', name), 'utf8')).toBe(
          await readFile(join(single, 'batch-serialize', name), 'utf8'),
        );
    }
    for (const shard of ['shard-1', 'shard-2']) expect(await filesOf(join(dir, shard))).toEqual([]);
    const verified = await cli('verify', sync);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const listed = await new Promise<string>((resolve, reject) =>
      execFile('sh', ['-c', 'cat 000001-a.tar.part-* | tar t'], { cwd: sync }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    );
    expect(listed.split('\n').slice(0, 4)).toEqual(['oci-layout', 'index.json', 'blobs', 'blobs/sha256']);
  });

  test('dedup scope all: one shard, and the plan says why', async () => {
    const { dir, batch } = await workspace();
    const result = await cli('plan', batch, join(dir, 'sync'), '--shards', '4', '--dedup-scope', 'all');
    expect(result.stdout).toMatch(/1\s+000001-000004\s+a, b, c, d/);
    expect(result.stdout).toContain('One shard: dedup scope all: a tar may leave out blobs that another name of this run ships');
  });
});
