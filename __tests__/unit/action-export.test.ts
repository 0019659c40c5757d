/**
 * The Action's orchestration in process (actions/cache tests restoreImpl so): exportImpl with the settings
 * readSettings makes of INPUT_* variables, against in-memory cache and artifact services, on OCI layouts (no
 * registry). GITHUB_OUTPUT and GITHUB_STEP_SUMMARY are files the tests read back.
 */
import '../../testkit/quiet-actions-debug.ts';
import * as core from '@actions/core';
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

    const tar = join(run.syncDir, '000001-tools.tar');
    const uploaded = services.artifactsStored.find((artifact) => artifact.name === 'nightly-000001-tools.tar');
    expect([...(uploaded?.files.keys() ?? [])]).toEqual(['000001-tools.tar', 'batch-serialize/000001-tools.tar.sha256']);
    expect(uploaded?.files.get('000001-tools.tar')).toEqual(await readFile(tar));
    expect(run.outputs).toEqual({
      [Outputs.TrackerSource]: 'none',
      [Outputs.RestoredKey]: '',
      [Outputs.CacheHit]: 'false',
      [Outputs.SavedKey]: 'nightly-101-1',
      [Outputs.Tars]: JSON.stringify([tar]),
      [Outputs.Bytes]: String((await stat(tar)).size),
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
    expect(JSON.parse(second.outputs[Outputs.Tars] ?? '')).toEqual([join(second.syncDir, '000002-tools.tar')]);
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
    expect(await readdir(second.syncDir)).toEqual(['000002-tools.tar', 'batch-serialize', 'record-keeping.csv']);
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
    expect(JSON.parse(retried.outputs[Outputs.Tars] ?? '')).toEqual([join(retried.syncDir, '000002-b.tar')]);
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
    expect(JSON.parse(mine.outputs[Outputs.Tars] ?? '')).toEqual([join(runnerTemp, 'batch-serialize', 'p4', '000001-tools.tar')]);
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
