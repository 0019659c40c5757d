/**
 * The Action's orchestration in process (actions/cache tests restoreImpl so): exportImpl with the settings
 * readSettings makes of INPUT_* variables, against in-memory cache and artifact services, on OCI layouts (no
 * registry). GITHUB_OUTPUT and GITHUB_STEP_SUMMARY are files the tests read back.
 */
import '../../testkit/quiet-actions-debug.ts';
import * as core from '@actions/core';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { Outputs } from '../../src/action/constants.ts';
import { exportImpl } from '../../src/action/export.ts';
import { readSettings, type ActionSettings } from '../../src/action/inputs.ts';
import { PLAN_COLUMNS, WRITTEN_COLUMNS } from '../../src/core/serialize/tar-rows.ts';
import { manifestsChildrenFirst, mergeBlobs, tutorialImages, writeOciLayout } from '../../testkit/images.ts';
import type { ImageSet, TutorialImages } from '../../testkit/images.ts';
import { MEMORY_DEFAULT_BRANCH, MEMORY_REPOSITORY_ID, memoryServices } from '../../testkit/memory-services.ts';
import type { MemoryArtifact, MemoryCacheEntry, MemoryServices } from '../../testkit/memory-services.ts';

let scratch: string;
let store: string;
let images: TutorialImages;
/** One path for every run, as on hosted runners: the cache restores to the paths it saved from. */
let runnerTemp: string;
let workspace: string;
/** @actions/core keeps the summary's path once it has read it: one file for the whole test file. */
let summaryFile: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'bs-action-export-'));
  store = join(scratch, 'store');
  images = await tutorialImages();
  await writeOciLayout(store, mergeBlobs([images.sources1, images.sources2]), [
    { descriptor: images.sources1.root, tag: 'sources1' },
    { descriptor: images.sources2.root, tag: 'sources2' },
  ]);
  runnerTemp = join(scratch, 'runner-temp');
  workspace = join(scratch, 'workspace');
  summaryFile = join(scratch, 'step-summary.md');
  await mkdir(workspace);
});
afterEach(() => vi.unstubAllEnvs());
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const ref = (tag: string) => `ocidir://${store}:${tag}`;

interface Run {
  error: Error | undefined;
  outputs: Record<string, string>;
  summary: string;
  /** What @actions/core printed: info lines and workflow commands (::warning::, ...). */
  stdout: string;
  /** Undefined when readSettings failed. */
  settings: ActionSettings | undefined;
  syncDir: string;
}

/** A job's run: its id and attempt, the event and the ref (default a schedule on main), who its head came from. */
interface RunSpec {
  id: number;
  attempt?: number;
  event?: string;
  ref?: string;
  /** A fork's pull request: another repository's id. */
  headRepositoryId?: number;
  env?: Record<string, string>;
}

/**
 * One job on a fresh runner: the batch list in the workspace, nothing in RUNNER_TEMP, the event payload naming the
 * repository and its default branch, the inputs as INPUT_* variables (cache-key-prefix `nightly` unless given), then
 * exportImpl. Its error is returned, not thrown.
 */
async function exportRun(services: MemoryServices, run: RunSpec, rows: string[], inputs: Record<string, string> = {}): Promise<Run> {
  vi.unstubAllEnvs(); // a fresh runner: no input of an earlier job lingers
  await rm(runnerTemp, { recursive: true, force: true });
  await mkdir(runnerTemp, { recursive: true });
  const batchFile = join(workspace, 'batch.csv');
  await writeFile(batchFile, ['name,artifact', ...rows].join('\n') + '\n');
  const outputFile = join(runnerTemp, 'github-output');
  await writeFile(outputFile, '');
  await writeFile(summaryFile, '');
  const eventFile = join(runnerTemp, 'event.json');
  await writeFile(eventFile, JSON.stringify({ repository: { id: MEMORY_REPOSITORY_ID, default_branch: MEMORY_DEFAULT_BRANCH } }));
  core.summary.emptyBuffer();
  const ref = run.ref ?? `refs/heads/${MEMORY_DEFAULT_BRANCH}`;
  const env: Record<string, string> = {
    RUNNER_TEMP: runnerTemp,
    GITHUB_RUN_ID: String(run.id),
    GITHUB_RUN_ATTEMPT: String(run.attempt ?? 1),
    GITHUB_REPOSITORY: 'octo-org/octo-repo',
    GITHUB_EVENT_NAME: run.event ?? 'schedule',
    GITHUB_EVENT_PATH: eventFile,
    GITHUB_REF: ref,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    ...run.env,
  };
  const given = { 'batch-file': batchFile, 'cache-key-prefix': 'nightly', ...inputs };
  for (const [name, value] of Object.entries(given)) env[`INPUT_${name.toUpperCase()}`] = value;
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  services.run = {
    id: run.id,
    headRepositoryId: run.headRepositoryId ?? MEMORY_REPOSITORY_ID,
    headBranch: ref.replace(/^refs\/heads\//, ''),
  };

  const printed: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write');
  stdout.mockImplementation((chunk: string | Uint8Array) => printed.push(String(chunk)) > 0);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  let error: Error | undefined;
  let settings: ActionSettings | undefined;
  try {
    settings = readSettings();
    await exportImpl(settings, services);
  } catch (caught) {
    error = caught as Error;
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return {
    error,
    outputs: parseOutputs(await readFile(outputFile, 'utf8')),
    summary: await readFile(summaryFile, 'utf8'),
    stdout: printed.join(''),
    settings,
    syncDir: join(runnerTemp, 'batch-serialize', given['cache-key-prefix']),
  };
}

/** GITHUB_OUTPUT holds `name<<DELIMITER\nvalue\nDELIMITER` blocks. */
function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const match of text.matchAll(/^([^<\n]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) outputs[match[1] as string] = match[3] as string;
  return outputs;
}

const trackerText = (services: MemoryServices, key: string) => {
  const entry = services.entries.find((candidate) => candidate.key === key);
  return [...(entry?.files.entries() ?? [])].find(([path]) => path.endsWith('record-keeping.csv'))?.[1].toString('utf8') ?? '';
};

/** Blobs other than manifests (manifests travel in every tar). */
const nonManifest = (set: ImageSet) => {
  const manifests = new Set(manifestsChildrenFirst(set).map((m) => m.digest));
  return [...set.blobs.keys()].filter((digest) => !manifests.has(digest));
};
const sharedBlobs = () => nonManifest(images.sources2).filter((digest) => images.sources1.blobs.has(digest)).length;

/** Records, at each tar's upload, whether the tracker on disk lists that tar already. */
function watchTrackerAtUpload(services: MemoryServices, syncDir: () => string): Map<string, boolean> {
  const recordedAtUpload = new Map<string, boolean>();
  services.onUpload = async (name) => {
    if (!name.endsWith('.tar')) return;
    const tracker = await readFile(join(syncDir(), 'record-keeping.csv'), 'utf8').catch(() => '');
    // `nightly-000001-tools.tar` carries the tar `000001-tools.tar`
    recordedAtUpload.set(name, tracker.includes(name.slice(name.indexOf('-') + 1)));
  };
  return recordedAtUpload;
}

/** Every tar artifact's sync name, in upload order: a name must never come twice. */
const tarNames = (services: MemoryServices, prefix = 'nightly') =>
  services.artifactsStored.map((artifact) => artifact.name).filter((name) => new RegExp(`^${prefix}-\\d{6}-`).test(name));

describe('serialize', () => {
  test('first run: no tracker anywhere, a warning; everything serialized, uploaded, then recorded and saved', async () => {
    const services = memoryServices();
    const recordedAtUpload = watchTrackerAtUpload(services, () => join(runnerTemp, 'batch-serialize', 'nightly'));
    const run = await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`]);
    expect(run.error).toBeUndefined();

    expect(run.stdout).toContain('::warning::No cache entry nightly-RUN-ATTEMPT and no artifact of nightly exists: a first run');
    expect(services.events).toEqual(['upload nightly-000001-tools.tar', 'save nightly-101-1', 'upload nightly-tracker']);
    expect(recordedAtUpload).toEqual(new Map([['nightly-000001-tools.tar', false]]));

    // Uploaded and recorded, the tar left the runner: the tars output names it, its artifact holds it.
    expect(await readdir(run.syncDir)).toEqual(['batch-serialize', 'record-keeping.csv']);
    const uploaded = services.artifactsStored.find((artifact) => artifact.name === 'nightly-000001-tools.tar');
    expect([...(uploaded?.files.keys() ?? [])]).toEqual(['000001-tools.tar', 'batch-serialize/000001-tools.tar.sha256']);
    const bytes = uploaded?.files.get('000001-tools.tar') as Buffer;
    const sidecar = uploaded?.files.get('batch-serialize/000001-tools.tar.sha256')?.toString('utf8');
    expect(sidecar).toBe(`${createHash('sha256').update(bytes).digest('hex')}  000001-tools.tar\n`);
    expect(run.outputs).toEqual({
      [Outputs.TrackerSource]: 'none',
      [Outputs.RestoredKey]: '',
      [Outputs.CacheHit]: 'false',
      [Outputs.SavedKey]: 'nightly-101-1',
      [Outputs.Tars]: JSON.stringify(['000001-tools.tar']),
      [Outputs.Bytes]: String(bytes.byteLength),
      [Outputs.ArtifactIds]: JSON.stringify({ '000001-tools.tar': uploaded?.id }),
      [Outputs.Shipped]: '1',
      [Outputs.Skipped]: '0',
    });

    // The cache entry holds the advanced tracker and ledger; the tracker artifact is their backup, kept longest.
    const entry = services.entries[0];
    expect(entry?.key).toBe('nightly-101-1');
    const savedPaths = [join(run.syncDir, 'record-keeping.csv'), join(run.syncDir, 'batch-serialize', 'record-keeping.ledger.jsonl')];
    expect([...(entry?.files.keys() ?? [])]).toEqual(savedPaths);
    expect(trackerText(services, 'nightly-101-1')).toContain(`000001-tools.tar,${ref('sources1')},sha256:`);
    const backup = services.artifactsStored.find((artifact) => artifact.name === 'nightly-tracker');
    expect([...(backup?.files.keys() ?? [])]).toEqual(['record-keeping.csv', 'batch-serialize/record-keeping.ledger.jsonl']);
    expect(backup?.retentionDays).toBe(90);

    expect(run.summary).toMatch(/No tracker found/);
    expect(run.summary).toContain(`<tr>${[...WRITTEN_COLUMNS, 'artifact id'].map((column) => `<th>${column}</th>`).join('')}</tr>`);
    const cells = ['000001-tools\\.tar', escape(ref('sources1')), '\\d+', '[^<]+', '0 B \\(0 blobs\\)', String(uploaded?.id)];
    expect(run.summary).toMatch(new RegExp(`<tr>${cells.map((cell) => `<td>${cell}</td>`).join('')}</tr>`));
    expect(run.summary).toMatch(/<tr><td><b>total<\/b><\/td><td> <\/td><td>\d+<\/td>/);
  });

  test('second run restores the cache and ships only the new tar; a third has nothing new', async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();

    const second = await exportRun(services, { id: 102 }, [`tools,${ref('sources2')}`]);
    expect(second.error).toBeUndefined();
    expect(second.stdout).toContain('Restored the tracker from the cache entry nightly-101-1.');
    expect(second.stdout).not.toContain('::warning::');
    expect(services.events.slice(3)).toEqual([
      'restore nightly-101-1',
      'download nightly-tracker',
      'upload nightly-000002-tools.tar',
      'save nightly-102-1',
      'upload nightly-tracker',
    ]);
    expect(JSON.parse(second.outputs[Outputs.Tars] ?? '')).toEqual(['000002-tools.tar']);
    expect(second.outputs).toMatchObject({
      [Outputs.TrackerSource]: 'cache',
      [Outputs.RestoredKey]: 'nightly-101-1',
      [Outputs.CacheHit]: 'true',
      [Outputs.SavedKey]: 'nightly-102-1',
    });
    expect(await readdir(second.syncDir)).not.toContain('000001-tools.tar');
    expect(second.summary).toContain('cache entry <code>nightly-101-1</code>');
    const row = new RegExp(`<td>000002-tools\\.tar</td><td>${escape(ref('sources2'))}</td>.*\\(${sharedBlobs()} blobs\\)`);
    expect(second.summary).toMatch(row);
    expect(trackerText(services, 'nightly-102-1').trim().split('\n')).toHaveLength(3);

    const third = await exportRun(services, { id: 103 }, [`tools,${ref('sources2')}`]);
    expect(third.error).toBeUndefined();
    expect(services.events.slice(8)).toEqual(['restore nightly-102-1', 'download nightly-tracker']);
    expect(third.outputs).toMatchObject({ [Outputs.Shipped]: '0', [Outputs.Skipped]: '1', [Outputs.Tars]: '[]' });
    expect(third.outputs).toMatchObject({ [Outputs.RestoredKey]: 'nightly-102-1', [Outputs.SavedKey]: '' });
    expect(third.summary).toMatch(/Nothing new to serialize/);
    expect(third.summary).toContain('tools: ' + ref('sources2') + ' (in 000002-tools.tar)');
  });

  test('a cache entry and a tracker artifact saved before batch-serialize/ (the ledger beside the tracker) are read', async () => {
    const services = memoryServices();
    const first = await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`]);
    expect(first.error).toBeUndefined();
    const ledger = join(first.syncDir, 'batch-serialize', 'record-keeping.ledger.jsonl');
    // As an older version saved them: the ledger beside the tracker (another cache version, another artifact path).
    const legacy = join(first.syncDir, 'record-keeping.ledger.jsonl');
    const entry = services.entries[0] as MemoryCacheEntry;
    entry.paths = [join(first.syncDir, 'record-keeping.csv'), legacy];
    entry.files.set(legacy, entry.files.get(ledger) as Buffer);
    entry.files.delete(ledger);
    const second = await exportRun(services, { id: 102 }, [`tools,${ref('sources2')}`]);
    expect(second.error).toBeUndefined();
    expect(second.outputs).toMatchObject({ [Outputs.TrackerSource]: 'cache', [Outputs.RestoredKey]: 'nightly-101-1' });
    expect(second.summary).toContain(`(${sharedBlobs()} blobs)`); // deduplicated by the ledger read from the old place
    expect(await readdir(second.syncDir)).toEqual(['batch-serialize', 'record-keeping.csv']);
    expect(services.entries.at(-1)?.paths).toEqual([join(first.syncDir, 'record-keeping.csv'), ledger]);

    const tracker = services.artifactsStored.findLast((a) => a.name === 'nightly-tracker') as MemoryArtifact;
    tracker.files.set('record-keeping.ledger.jsonl', tracker.files.get('batch-serialize/record-keeping.ledger.jsonl') as Buffer);
    tracker.files.delete('batch-serialize/record-keeping.ledger.jsonl');
    services.entries.length = 0; // evicted: the artifact of the older layout is the tracker
    const third = await exportRun(services, { id: 103 }, [`tools,${ref('sources2')}`, `more,${ref('sources1')}`]);
    expect(third.error).toBeUndefined();
    expect(third.outputs).toMatchObject({ [Outputs.TrackerSource]: 'artifact' });
    expect(third.summary).toMatch(/000003-more\.tar.*\(\d+ blobs\)/);
    expect(await readFile(ledger.replace(first.syncDir, third.syncDir), 'utf8')).toContain('000002-tools.tar');
  });

  test('a cache miss takes the newest trusted tracker artifact, loudly, and heals the cache', async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();
    services.entries.length = 0; // evicted

    const rebuilt = await exportRun(services, { id: 102 }, [`tools,${ref('sources2')}`]);
    expect(rebuilt.error).toBeUndefined();
    expect(rebuilt.stdout).toContain(
      '::warning::No cache entry of this prefix: the tracker was rebuilt from artifact nightly-tracker of run 101.',
    );
    expect(services.events.slice(3)).toEqual([
      'download nightly-tracker',
      'upload nightly-000002-tools.tar',
      'save nightly-102-1',
      'upload nightly-tracker',
    ]);
    expect(rebuilt.outputs).toMatchObject({ [Outputs.TrackerSource]: 'artifact', [Outputs.CacheHit]: 'false', [Outputs.RestoredKey]: '' });
    expect(rebuilt.summary).toContain('The cache did not have the newest tracker</b> (evicted?)');
    expect(rebuilt.summary).toContain('it was taken from artifact <code>nightly-tracker</code> of run 101');
    expect(rebuilt.summary).toContain(`(${sharedBlobs()} blobs)`);
  });

  test('an upload failing mid-run: that tar is not recorded, the ones before it are, the tracker is kept', async () => {
    const services = memoryServices();
    services.failUploadOf('flaky-000002-b.tar');
    const rows = [`a,${ref('sources1')}`, `b,${ref('sources2')}`];
    const failed = await exportRun(services, { id: 101 }, rows, { 'cache-key-prefix': 'flaky' });
    expect(failed.error?.message).toMatch(/upload of flaky-000002-b\.tar failed/);
    expect(services.events).toEqual(['upload flaky-000001-a.tar', 'save flaky-101-1', 'upload flaky-tracker']);
    const tracker = await readFile(join(failed.syncDir, 'record-keeping.csv'), 'utf8');
    expect(tracker).toContain('000001-a.tar');
    expect(tracker).not.toContain('000002-b.tar');
    expect(trackerText(services, 'flaky-101-1')).toBe(tracker);
    expect(failed.outputs).toMatchObject({ [Outputs.Shipped]: '1', [Outputs.SavedKey]: 'flaky-101-1' });
    expect(Object.keys(JSON.parse(failed.outputs[Outputs.ArtifactIds] ?? '{}'))).toEqual(['000001-a.tar']);
    expect(failed.summary).toMatch(/The run failed: upload of flaky-000002-b\.tar failed/);
    expect(failed.summary).toContain('<td>000001-a.tar</td>');
    expect(failed.summary).not.toContain('<td>000002-b.tar</td>');

    const retried = await exportRun(services, { id: 102 }, rows, { 'cache-key-prefix': 'flaky' });
    expect(retried.error).toBeUndefined();
    expect(JSON.parse(retried.outputs[Outputs.Tars] ?? '')).toEqual(['000002-b.tar']);
  });

  test('another run that saved meanwhile on the same prefix: a warning, and this run saves the newest entry', async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();
    services.onUpload = async (name) => {
      if (name !== 'nightly-000002-tools.tar') return;
      const other = services.entries[0];
      if (other) services.entries.push({ ...other, key: 'nightly-150-1' });
    };
    const run = await exportRun(services, { id: 102 }, [`tools,${ref('sources2')}`]);
    expect(run.error).toBeUndefined();
    expect(run.stdout).toContain('::warning::Another run saved the tracker as nightly-150-1 after this run restored nightly-101-1');
    expect(services.entries.map((entry) => entry.key)).toEqual(['nightly-101-1', 'nightly-150-1', 'nightly-102-1']);
  });

  test('keep-tars keeps each tar on the runner (the tars output gives paths); without it the disk holds one tar at a time', async () => {
    const services = memoryServices();
    const rows = [`a,${ref('sources1')}`, `b,${ref('sources2')}`, `c,${ref('sources1')}`];
    const onDisk: string[][] = [];
    services.onUpload = async (name) => {
      if (/-\d{6}-/.test(name))
        onDisk.push((await readdir(join(runnerTemp, 'batch-serialize', 'nightly'))).filter((file) => file.includes('.tar')));
    };
    const deleted = await exportRun(services, { id: 101 }, rows);
    expect(deleted.error).toBeUndefined();
    expect(onDisk).toEqual([['000001-a.tar'], ['000002-b.tar'], ['000003-c.tar']]);
    expect(JSON.parse(deleted.outputs[Outputs.Tars] ?? '')).toEqual(['000001-a.tar', '000002-b.tar', '000003-c.tar']);

    const kept = await exportRun(services, { id: 102 }, [`d,${ref('sources1')}`], { 'keep-tars': 'true' });
    expect(kept.error).toBeUndefined();
    const tar = join(kept.syncDir, '000004-d.tar');
    expect(JSON.parse(kept.outputs[Outputs.Tars] ?? '')).toEqual([tar]);
    expect(kept.outputs[Outputs.Bytes]).toBe(String((await stat(tar)).size));
  });
});

describe('the tracker on real GitHub (issue 9)', () => {
  test('a refused cache save is a failed save: a loud warning, no saved-key, and the next run takes the newer artifact', async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();
    services.refuseSaves = true;
    const refused = await exportRun(services, { id: 102 }, [`tools,${ref('sources2')}`]);
    expect(refused.error).toBeUndefined();
    expect(refused.stdout).toContain('::warning::The cache refused to save the tracker as nightly-102-1');
    expect(refused.outputs[Outputs.SavedKey]).toBe('');
    services.refuseSaves = false;

    // The cache still has run 101's tracker; the artifact of run 102 records 000002: it wins, nothing ships twice.
    const next = await exportRun(services, { id: 103 }, [`tools,${ref('sources2')}`]);
    expect(next.error).toBeUndefined();
    expect(next.stdout).toContain('records tars up to 000002, the cache only up to 000001 (a refused or lost cache save)');
    expect(next.outputs).toMatchObject({ [Outputs.TrackerSource]: 'artifact', [Outputs.Shipped]: '0', [Outputs.Skipped]: '1' });
    expect(next.outputs[Outputs.SavedKey]).toBe('nightly-103-1');
    expect(tarNames(services)).toEqual(['nightly-000001-tools.tar', 'nightly-000002-tools.tar']);
  });

  test('a refused save and a failed backup fail the run; the next run never repeats the uploaded number', async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();
    services.refuseSaves = true;
    services.failUploadOf('nightly-tracker');
    const lost = await exportRun(services, { id: 102 }, [`tools,${ref('sources2')}`]);
    expect(lost.error?.message).toMatch(
      /the cache refused the tracker \(nightly-102-1\) and could not upload the tracker artifact nightly-tracker: .*the next run will/,
    );
    expect(lost.summary).toMatch(/The run failed: the cache refused the tracker/);
    services.refuseSaves = false;

    const next = await exportRun(services, { id: 103 }, [`tools,${ref('sources2')}`]);
    expect(next.error).toBeUndefined();
    expect(tarNames(services)).toEqual(['nightly-000001-tools.tar', 'nightly-000002-tools.tar', 'nightly-000003-tools.tar']);
    expect(next.summary).toContain('New tars are numbered above 2.');
  });

  test('a re-run attempt of a run that died after an upload: no 409, the tracker artifact replaced, each tar once', async () => {
    const services = memoryServices();
    const rows = [`a,${ref('sources1')}`, `b,${ref('sources2')}`];
    services.refuseSaves = true;
    services.failUploadOf('nightly-000002-b.tar');
    const first = await exportRun(services, { id: 101 }, rows);
    expect(first.error?.message).toMatch(/upload of nightly-000002-b\.tar failed/);
    services.refuseSaves = false;

    const again = await exportRun(services, { id: 101, attempt: 2 }, rows);
    expect(again.error).toBeUndefined();
    expect(services.events.slice(-4)).toEqual([
      'upload nightly-000002-b.tar',
      'save nightly-101-2',
      'delete nightly-tracker',
      'upload nightly-tracker',
    ]);
    expect(tarNames(services)).toEqual(['nightly-000001-a.tar', 'nightly-000002-b.tar']);
    const tracker = await readFile(join(again.syncDir, 'record-keeping.csv'), 'utf8');
    expect(tracker.match(/^0000\d\d-\w+\.tar/gm)).toEqual(['000001-a.tar', '000002-b.tar']);
  });

  test('prefixes isolate: another prefix that starts the same is neither restored nor counted', async () => {
    const services = memoryServices();
    const other = await exportRun(services, { id: 101 }, [`x,${ref('sources1')}`, `y,${ref('sources2')}`], {
      'cache-key-prefix': 'p4-extra',
    });
    expect(other.error).toBeUndefined();
    const mine = await exportRun(services, { id: 102 }, [`tools,${ref('sources1')}`], { 'cache-key-prefix': 'p4' });
    expect(mine.error).toBeUndefined();
    expect(mine.outputs[Outputs.TrackerSource]).toBe('none');
    expect(JSON.parse(mine.outputs[Outputs.Tars] ?? '')).toEqual(['000001-tools.tar']);
    expect(tarNames(services, 'p4')).toEqual(['p4-000001-tools.tar']);
    expect(services.entries.map((entry) => entry.key)).toEqual(['p4-extra-101-1', 'p4-102-1']);
  });

  test("a sync directory's leftover tracker from an earlier step is not taken for this prefix's", async () => {
    const services = memoryServices();
    const syncDir = join(scratch, 'shared-sync');
    await mkdir(syncDir, { recursive: true });
    await writeFile(
      join(syncDir, 'record-keeping.csv'),
      `sync_name,artifact,digest\n000007-tools.tar,${ref('sources1')},${images.sources1.root.digest}\n`,
    );
    const run = await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`], { 'sync-directory': syncDir });
    expect(run.error).toBeUndefined();
    expect(tarNames(services)).toEqual(['nightly-000001-tools.tar']);
    await rm(syncDir, { recursive: true, force: true });
  });

  test('mode auto plans off the default branch; mode serialize there serializes, with a warning', async () => {
    const services = memoryServices();
    const dispatched = await exportRun(services, { id: 101, event: 'workflow_dispatch', ref: 'refs/heads/feature' }, [
      `tools,${ref('sources1')}`,
    ]);
    expect(dispatched.error).toBeUndefined();
    expect(dispatched.settings?.mode).toBe('plan');
    expect(services.artifactsStored).toEqual([]);

    const forced = await exportRun(
      services,
      { id: 102, event: 'workflow_dispatch', ref: 'refs/heads/feature' },
      [`tools,${ref('sources1')}`],
      {
        mode: 'serialize',
      },
    );
    expect(forced.error).toBeUndefined();
    expect(forced.stdout).toContain('::warning::Serializing on refs/heads/feature, not on the default branch main');
    // The default branch does not trust that branch's tracker, but never reuses its number.
    const main = await exportRun(services, { id: 103 }, [`tools,${ref('sources1')}`]);
    expect(main.error).toBeUndefined();
    expect(tarNames(services)).toEqual(['nightly-000001-tools.tar', 'nightly-000002-tools.tar']);
  });

  test('a lost tracker stops the run; start-over ships everything again, numbered above every number used', async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();
    expect((await exportRun(services, { id: 102 }, [`tools,${ref('sources2')}`])).error).toBeUndefined();
    services.entries.length = 0; // evicted
    for (const artifact of services.artifactsStored) artifact.expired = true;

    const stopped = await exportRun(services, { id: 103 }, [`tools,${ref('sources2')}`]);
    expect(stopped.error?.message).toMatch(/^The tracker of nightly is lost: no cache entry and no unexpired tracker artifact/);
    expect(stopped.error?.message).toMatch(/numbered up to 000002\..*start-over: true/);
    expect(stopped.summary).toMatch(/batch-serialize: failed[\s\S]*The tracker of nightly is lost/);
    expect(tarNames(services)).toHaveLength(2);

    const restarted = await exportRun(services, { id: 104 }, [`tools,${ref('sources2')}`], { 'start-over': 'true' });
    expect(restarted.error).toBeUndefined();
    expect(restarted.summary).toContain('The tracker was lost; starting over as asked');
    expect(tarNames(services)).toEqual(['nightly-000001-tools.tar', 'nightly-000002-tools.tar', 'nightly-000003-tools.tar']);
    const shipped = services.artifactsStored.find((artifact) => artifact.name === 'nightly-000003-tools.tar');
    expect(shipped?.files.get('000003-tools.tar')?.byteLength).toBeGreaterThan(0);
  });

  test('runner paths that differ (another cache version): one miss, then a stale hit that the newer artifact beats', async () => {
    const services = memoryServices();
    const elsewhere = { 'sync-directory': join(scratch, 'runner-b', 'sync') };
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();
    const moved = await exportRun(services, { id: 102 }, [`tools,${ref('sources2')}`], elsewhere);
    expect(moved.error).toBeUndefined();
    expect(moved.outputs[Outputs.TrackerSource]).toBe('artifact');
    // Back on the first path: the cache has run 101's entry for it, older than run 102's tracker artifact.
    const back = await exportRun(services, { id: 103 }, [`tools,${ref('sources2')}`]);
    expect(back.error).toBeUndefined();
    expect(back.outputs).toMatchObject({ [Outputs.TrackerSource]: 'artifact', [Outputs.Shipped]: '0', [Outputs.Skipped]: '1' });
    expect(tarNames(services)).toEqual(['nightly-000001-tools.tar', 'nightly-000002-tools.tar']);
    await rm(join(scratch, 'runner-b'), { recursive: true, force: true });
  });

  test("a fork's planted tracker artifact, and another branch's, are not trusted", async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();
    // A fork's pull request uploads an artifact named like the backup, claiming everything is shipped.
    services.run = { id: 150, headRepositoryId: 666, headBranch: 'main' };
    const plantedDir = join(scratch, 'planted');
    await mkdir(plantedDir, { recursive: true });
    const forged = `sync_name,artifact,digest\n000009-tools.tar,${ref('sources2')},${images.sources2.root.digest}\n`;
    await writeFile(join(plantedDir, 'record-keeping.csv'), forged);
    await services.artifacts.upload('nightly-tracker', [join(plantedDir, 'record-keeping.csv')], plantedDir, 1);
    services.entries.length = 0; // evicted

    const run = await exportRun(services, { id: 151 }, [`tools,${ref('sources2')}`]);
    expect(run.error).toBeUndefined();
    expect(run.outputs).toMatchObject({ [Outputs.TrackerSource]: 'artifact', [Outputs.Shipped]: '1' });
    expect(run.summary).toContain('of run 101');
    expect(tarNames(services)).toEqual(['nightly-000001-tools.tar', 'nightly-000002-tools.tar']);
  });

  test('the registry password goes to the registry input only, and needs it', async () => {
    const services = memoryServices();
    const run = await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`], { username: 'robot', password: 's3cret' });
    expect(run.error?.message).toMatch(/^input registry is needed with password/);
    expect(services.events).toEqual([]);
  });
});

describe('a sharded run: plan-shards, a serialize-shard job per matrix entry, record-shards', () => {
  interface Night {
    plan: Run;
    shards: Run[];
    record: Run;
  }

  /** The three jobs of one workflow run, as GitHub runs them: the matrix from the plan's output, each job on a fresh runner. */
  async function shardedNight(services: MemoryServices, id: number, batch: string[], inputs: Record<string, string> = {}): Promise<Night> {
    const plan = await exportRun(services, { id }, batch, { ...inputs, mode: 'plan-shards' });
    expect(plan.error).toBeUndefined();
    const matrix = JSON.parse(plan.outputs[Outputs.Matrix] ?? '') as { include: Array<{ shard: number }> };
    const shards: Run[] = [];
    for (const { shard } of matrix.include)
      shards.push(await exportRun(services, { id }, [], { ...inputs, mode: 'serialize-shard', shard: String(shard) }));
    const record = await exportRun(services, { id }, [], { ...inputs, mode: 'record-shards' });
    return { plan, shards, record };
  }

  const trackerRows = (text: string) => text.trim().split('\n').slice(1);
  /** Three names: the store's two artifacts (read in beforeAll), one of them twice. */
  const rows = () => [`a,${ref('sources1')}`, `b,${ref('sources2')}`, `c,${ref('sources1')}`];

  test('three shards: the matrix, each shard uploads its tars and its record, record saves the one-job tracker once', async () => {
    const services = memoryServices();
    const oneJob = await exportRun(services, { id: 100 }, rows(), { 'cache-key-prefix': 'single' });
    expect(oneJob.error).toBeUndefined();

    const night = await shardedNight(services, 101, rows());
    expect(JSON.parse(night.plan.outputs[Outputs.Matrix] ?? '')).toEqual({
      include: [
        { shard: 1, tars: '000001-000001', names: 'a', bytes: expect.any(Number) },
        { shard: 2, tars: '000002-000002', names: 'b', bytes: expect.any(Number) },
        { shard: 3, tars: '000003-000003', names: 'c', bytes: expect.any(Number) },
      ],
    });
    expect(night.plan.outputs[Outputs.ShardCount]).toBe('3');
    expect(night.plan.summary).toContain('Plan <code>000001-000003</code>: 3 shard(s).');
    for (const shard of night.shards) expect(shard.error).toBeUndefined();
    expect(night.record.error).toBeUndefined();
    const events = services.events.slice(services.events.indexOf('upload single-tracker') + 1);
    expect(events).toEqual([
      'upload nightly-plan-000001-000003',
      'download nightly-plan-000001-000003',
      'upload nightly-000001-a.tar',
      'upload nightly-shard-000001-000001',
      'download nightly-plan-000001-000003',
      'upload nightly-000002-b.tar',
      'upload nightly-shard-000002-000002',
      'download nightly-plan-000001-000003',
      'upload nightly-000003-c.tar',
      'upload nightly-shard-000003-000003',
      'download nightly-plan-000001-000003',
      'download nightly-shard-000001-000001',
      'download nightly-shard-000002-000002',
      'download nightly-shard-000003-000003',
      'save nightly-101-1',
      'upload nightly-tracker',
    ]);
    // The one-job run's tracker, numbers and all (one shard per name keeps batch-list order), and its tars byte for byte.
    expect(trackerText(services, 'nightly-101-1')).toBe(trackerText(services, 'single-100-1'));
    for (const name of ['000001-a.tar', '000002-b.tar', '000003-c.tar']) {
      const bytes = (prefix: string) => services.artifactsStored.find((a) => a.name === `${prefix}-${name}`)?.files.get(name);
      expect(bytes('nightly')).toEqual(bytes('single'));
    }
    expect(night.record.outputs).toMatchObject({ [Outputs.Shipped]: '3', [Outputs.SavedKey]: 'nightly-101-1' });
    expect(JSON.parse(night.record.outputs[Outputs.Tars] ?? '')).toEqual(['000001-a.tar', '000002-b.tar', '000003-c.tar']);
    expect(night.record.summary).toMatch(/<td>2<\/td><td>000002-000002<\/td><td>b<\/td><td>[^<]+<\/td><td>✅ recorded<\/td>/);

    // The next night restores what record saved: nothing new, no shard.
    const quiet = await exportRun(services, { id: 102 }, rows(), { mode: 'plan-shards' });
    expect(quiet.outputs).toMatchObject({ [Outputs.ShardCount]: '0', [Outputs.Matrix]: '{"include":[]}', [Outputs.Skipped]: '3' });
  });

  test('a failed shard withdraws the tars it uploaded, leaves no trace in the tracker; the next night ships them again', async () => {
    const services = memoryServices();
    const four = [...rows(), `d,${ref('sources2')}`];
    services.failUploadOf('nightly-000004-d.tar');
    const night = await shardedNight(services, 101, four, { shards: '2' });
    expect(night.shards.map((shard) => shard.error?.message)).toEqual([
      undefined,
      expect.stringMatching(/upload of nightly-000004-d\.tar failed/),
    ]);
    expect(services.events).toContain('delete nightly-000003-c.tar');
    expect(night.shards[1]?.summary).toContain('The shard failed');
    expect(night.shards[1]?.outputs).toMatchObject({ [Outputs.Shipped]: '0', [Outputs.Tars]: '[]' });
    expect(night.record.error).toBeUndefined();
    expect(night.record.stdout).toContain('::warning::shard 2 of plan 000001-000004 (000003-000004: c, d) confirmed nothing');
    expect(trackerRows(trackerText(services, 'nightly-101-1')).map((row) => row.split(',')[0])).toEqual(['000001-a.tar', '000002-b.tar']);
    expect(tarNames(services)).toEqual(['nightly-000001-a.tar', 'nightly-000002-b.tar']);

    // The plan's numbers are never used again: c and d ship above them.
    const next = await shardedNight(services, 102, four, { shards: '2' });
    expect(next.record.error).toBeUndefined();
    expect(JSON.parse(next.plan.outputs[Outputs.Matrix] ?? '').include).toEqual([
      expect.objectContaining({ shard: 1, tars: '000005-000005', names: 'c' }),
      expect.objectContaining({ shard: 2, tars: '000006-000006', names: 'd' }),
    ]);
    expect(trackerRows(trackerText(services, 'nightly-102-1')).map((row) => row.split(',')[0])).toEqual([
      '000001-a.tar',
      '000002-b.tar',
      '000005-c.tar',
      '000006-d.tar',
    ]);
    expect(tarNames(services)).toEqual(['nightly-000001-a.tar', 'nightly-000002-b.tar', 'nightly-000005-c.tar', 'nightly-000006-d.tar']);
  });

  test('re-running a failed shard in the next attempt writes the same numbers, and record merges it with the others', async () => {
    const services = memoryServices();
    services.failUploadOf('nightly-000002-b.tar');
    const night = await shardedNight(services, 101, rows());
    expect(night.shards[1]?.error).toBeDefined();
    // Re-run failed jobs: the shard and record, attempt 2, with the plan's outputs as they were.
    const again = await exportRun(services, { id: 101, attempt: 2 }, [], { mode: 'serialize-shard', shard: '2' });
    expect(again.error).toBeUndefined();
    const record = await exportRun(services, { id: 101, attempt: 2 }, [], { mode: 'record-shards' });
    expect(record.error).toBeUndefined();
    expect(JSON.parse(record.outputs[Outputs.Tars] ?? '')).toEqual(['000002-b.tar']);
    expect(record.summary).toContain('✅ recorded before');
    expect(trackerRows(trackerText(services, 'nightly-101-2')).map((row) => row.split(',')[0])).toEqual([
      '000001-a.tar',
      '000002-b.tar',
      '000003-c.tar',
    ]);
  });

  test('record never merges over a tracker another run saved after the plan: it fails, saving nothing', async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 100 }, [`a,${ref('sources1')}`])).error).toBeUndefined();
    const plan = await exportRun(services, { id: 101 }, [...rows(), `d,${ref('sources2')}`], { mode: 'plan-shards' });
    expect(plan.outputs[Outputs.Matrix]).toContain('"tars":"000002-000002"');
    const shard = await exportRun(services, { id: 101 }, [], { mode: 'serialize-shard', shard: '1' });
    expect(shard.error).toBeUndefined();
    // Meanwhile another run (no concurrency group) ships and saves.
    expect((await exportRun(services, { id: 150 }, [`a,${ref('sources2')}`])).error).toBeUndefined();
    const saved = services.entries.length;
    const record = await exportRun(services, { id: 101 }, [], { mode: 'record-shards' });
    expect(record.error?.message).toMatch(/record-keeping\.csv is not the tracker plan 000002-000004 was made from \(1 row\(s\), sha256:/);
    // The other run numbered above the plan's reservation.
    expect(record.error?.message).toMatch(
      /it records 2 row\(s\), the newest 000005-a\.tar; another run changed it since\. Nothing was recorded/,
    );
    expect(record.summary).toMatch(/❌ .*another run changed it since/);
    expect(services.entries).toHaveLength(saved);
  });

  test('more names than shards: groups balanced by bytes, each numbered contiguously; dedup scope all: one shard', async () => {
    const services = memoryServices();
    const many = [`a,${ref('sources1')}`, `b,${ref('sources2')}`, `c,${ref('sources1')}`, `d,${ref('sources2')}`];
    const grouped = await exportRun(services, { id: 101 }, many, { mode: 'plan-shards', shards: '2' });
    const matrix = JSON.parse(grouped.outputs[Outputs.Matrix] ?? '') as { include: Array<{ names: string; tars: string }> };
    // sources2 is the larger: b and d go to different shards, each with a sources1 name.
    expect(matrix.include.map(({ names, tars }) => [names, tars])).toEqual([
      ['a, b', '000001-000002'],
      ['c, d', '000003-000004'],
    ]);

    const all = await exportRun(services, { id: 102 }, many, { mode: 'plan-shards', 'dedup-scope': 'all' });
    expect(JSON.parse(all.outputs[Outputs.Matrix] ?? '').include).toEqual([expect.objectContaining({ shard: 1, names: 'a, b, c, d' })]);
    expect(all.summary).toContain('One shard: dedup scope all: a tar may leave out blobs that another name of this run ships');
    // The first plan's numbers stay reserved.
    expect(all.outputs[Outputs.Matrix]).toContain('"tars":"000005-000008"');
  });

  test('a shard without a plan artifact in its run says which job must come first', async () => {
    const services = memoryServices();
    const shard = await exportRun(services, { id: 101 }, [], { mode: 'serialize-shard', shard: '1' });
    expect(shard.error?.message).toMatch(/^run 101 has no plan artifact nightly-plan-FIRST-LAST: a job with mode plan-shards/);
    expect(shard.summary).toMatch(/batch-serialize: failed/);
  });
});

describe('plan', () => {
  test('a pull request plans against the restored tracker: nothing uploaded or saved, the plan as JSON', async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();
    const events = services.events.length;

    const pr = { id: 102, event: 'pull_request', ref: 'refs/pull/7/merge' };
    const plan = await exportRun(services, pr, [`tools,${ref('sources2')}`]);
    expect(plan.error).toBeUndefined();
    expect(plan.settings?.mode).toBe('plan');
    expect(services.events.slice(events)).toEqual(['restore nightly-101-1', 'download nightly-tracker']);
    expect(await readdir(plan.syncDir)).toEqual(['batch-serialize', 'record-keeping.csv']);
    const planned = JSON.parse(plan.outputs[Outputs.Plan] ?? '{}') as { planned: unknown[] };
    expect(planned.planned).toEqual([expect.objectContaining({ name: 'tools', deduplicatedBlobs: sharedBlobs() })]);
    expect(plan.outputs).toMatchObject({ [Outputs.Shipped]: '0', [Outputs.Skipped]: '0', [Outputs.RestoredKey]: 'nightly-101-1' });
    expect(plan.outputs[Outputs.Tars]).toBeUndefined();
    expect(plan.summary).toMatch(/batch-serialize: plan/);
    expect(plan.summary).toContain(`<tr>${PLAN_COLUMNS.map((column) => `<th>${column}</th>`).join('')}</tr>`);
    expect(plan.summary).toContain(`<tr><td>000002-tools.tar</td><td>${ref('sources1')} → ${ref('sources2')}</td>`);
  });

  test('mode plan outside a pull request plans too; on a first run everything would ship', async () => {
    const services = memoryServices();
    const plan = await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`], { mode: 'plan' });
    expect(plan.error).toBeUndefined();
    expect(services.events).toEqual([]);
    expect(plan.summary).toContain(`<td>000001-tools.tar</td><td>(new) → ${ref('sources1')}</td>`);
  });
});

describe('a bad batch list', () => {
  test('a malformed row fails with file:line before anything is restored, and the summary says so', async () => {
    const services = memoryServices();
    const run = await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`, `ops,${ref('sources2')},extra`]);
    expect(run.error?.message).toMatch(/batch\.csv:3: expected 2 columns \(name,artifact\), found 3/);
    expect(services.events).toEqual([]);
    expect(run.summary).toMatch(/batch-serialize: failed[\s\S]*batch\.csv:3: expected 2 columns/);
  });

  test('a row that cannot be resolved fails the plan with file:line, and the summary says so', async () => {
    const services = memoryServices();
    const pr = { id: 101, event: 'pull_request', ref: 'refs/pull/7/merge' };
    const run = await exportRun(services, pr, [`tools,${ref('sources1')}`, `ops,${ref('no-such-tag')}`]);
    expect(run.error?.message).toMatch(/batch\.csv:3: .*no-such-tag/);
    expect(run.summary).toMatch(/batch-serialize: failed[\s\S]*batch\.csv:3: .*no-such-tag/);
    expect(services.artifactsStored).toEqual([]);
    expect(services.entries).toEqual([]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
