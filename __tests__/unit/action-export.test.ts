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
import { memoryServices, type MemoryServices } from '../../testkit/memory-services.ts';

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

/**
 * One job on a fresh runner: the batch list in the workspace, nothing in RUNNER_TEMP, the inputs as INPUT_*
 * variables (cache-key-prefix `nightly` unless given), then exportImpl. Its error is returned, not thrown.
 */
async function exportRun(
  services: MemoryServices,
  run: { id: number; event?: string },
  rows: string[],
  inputs: Record<string, string> = {},
): Promise<Run> {
  await rm(runnerTemp, { recursive: true, force: true });
  await mkdir(runnerTemp, { recursive: true });
  const batchFile = join(workspace, 'batch.csv');
  await writeFile(batchFile, ['name,artifact', ...rows].join('\n') + '\n');
  const outputFile = join(runnerTemp, 'github-output');
  await writeFile(outputFile, '');
  await writeFile(summaryFile, '');
  core.summary.emptyBuffer();
  const env: Record<string, string> = {
    RUNNER_TEMP: runnerTemp,
    GITHUB_RUN_ID: String(run.id),
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_REPOSITORY: 'octo-org/octo-repo',
    GITHUB_EVENT_NAME: run.event ?? 'schedule',
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
  };
  for (const [name, value] of Object.entries({ 'batch-file': batchFile, 'cache-key-prefix': 'nightly', ...inputs })) {
    env[`INPUT_${name.toUpperCase()}`] = value;
  }
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  services.runId = run.id;

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
    syncDir: join(runnerTemp, 'batch-serialize', 'sync'),
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
    recordedAtUpload.set(name, tracker.includes(name));
  };
  return recordedAtUpload;
}

describe('serialize', () => {
  test('first run: no tracker anywhere, a warning; everything serialized, uploaded, then recorded and saved', async () => {
    const services = memoryServices();
    const recordedAtUpload = watchTrackerAtUpload(services, () => join(runnerTemp, 'batch-serialize', 'sync'));
    const run = await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`]);
    expect(run.error).toBeUndefined();

    expect(run.stdout).toContain('::warning::No cache entry starts with nightly- and no artifact nightly-tracker exists');
    expect(services.events).toEqual(['restore miss', 'upload 000001-tools.tar', 'save nightly-101-1', 'upload nightly-tracker']);
    expect(recordedAtUpload).toEqual(new Map([['000001-tools.tar', false]]));

    const tar = join(run.syncDir, '000001-tools.tar');
    const uploaded = services.artifactsStored.find((artifact) => artifact.name === '000001-tools.tar');
    expect([...(uploaded?.files.keys() ?? [])]).toEqual(['000001-tools.tar', '000001-tools.tar.sha256']);
    expect(uploaded?.files.get('000001-tools.tar')).toEqual(await readFile(tar));
    expect(run.outputs).toEqual({
      [Outputs.TrackerCacheKey]: 'nightly-101-1',
      [Outputs.Tars]: JSON.stringify([tar]),
      [Outputs.Bytes]: String((await stat(tar)).size),
      [Outputs.ArtifactIds]: JSON.stringify({ '000001-tools.tar': uploaded?.id }),
      [Outputs.Shipped]: '1',
      [Outputs.Skipped]: '0',
    });

    // The cache entry holds the advanced tracker and ledger; the tracker artifact is their backup.
    const entry = services.entries[0];
    expect(entry?.key).toBe('nightly-101-1');
    const savedPaths = [join(run.syncDir, 'record-keeping.csv'), join(run.syncDir, 'record-keeping.ledger.jsonl')];
    expect([...(entry?.files.keys() ?? [])]).toEqual(savedPaths);
    expect(trackerText(services, 'nightly-101-1')).toContain(`000001-tools.tar,${ref('sources1')},sha256:`);
    const backup = services.artifactsStored.find((artifact) => artifact.name === 'nightly-tracker');
    expect([...(backup?.files.keys() ?? [])]).toEqual(['record-keeping.csv', 'record-keeping.ledger.jsonl']);

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
    expect(services.events.slice(4)).toEqual([
      'restore nightly-101-1',
      'upload 000002-tools.tar',
      'save nightly-102-1',
      'upload nightly-tracker',
    ]);
    expect(JSON.parse(second.outputs[Outputs.Tars] ?? '')).toEqual([join(second.syncDir, '000002-tools.tar')]);
    expect(second.outputs[Outputs.TrackerCacheKey]).toBe('nightly-102-1');
    expect(await readdir(second.syncDir)).not.toContain('000001-tools.tar');
    expect(second.summary).toContain('cache entry <code>nightly-101-1</code>');
    const row = new RegExp(`<td>000002-tools\\.tar</td><td>${escape(ref('sources2'))}</td>.*\\(${sharedBlobs()} blobs\\)`);
    expect(second.summary).toMatch(row);
    expect(trackerText(services, 'nightly-102-1').trim().split('\n')).toHaveLength(3);

    const third = await exportRun(services, { id: 103 }, [`tools,${ref('sources2')}`]);
    expect(third.error).toBeUndefined();
    expect(services.events.slice(8)).toEqual(['restore nightly-102-1', 'upload nightly-tracker']);
    expect(third.outputs).toMatchObject({ [Outputs.Shipped]: '0', [Outputs.Skipped]: '1', [Outputs.Tars]: '[]' });
    expect(third.outputs[Outputs.TrackerCacheKey]).toBe('nightly-102-1');
    expect(third.summary).toMatch(/Nothing new to serialize/);
    expect(third.summary).toContain('tools: ' + ref('sources2') + ' (in 000002-tools.tar)');
  });

  test('a cache miss falls back to the newest tracker artifact, loudly', async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();
    services.entries.length = 0; // evicted

    const rebuilt = await exportRun(services, { id: 102 }, [`tools,${ref('sources2')}`]);
    expect(rebuilt.error).toBeUndefined();
    const warning = '::warning::No cache entry starts with nightly-; rebuilt the tracker from artifact nightly-tracker of run 101.';
    expect(rebuilt.stdout).toContain(warning);
    expect(services.events.slice(4)).toEqual([
      'restore miss',
      'download nightly-tracker',
      'upload 000002-tools.tar',
      'save nightly-102-1',
      'upload nightly-tracker',
    ]);
    expect(rebuilt.summary).toContain('No cache entry for <code>nightly-</code></b> (evicted?)');
    expect(rebuilt.summary).toContain('the tracker was rebuilt from artifact <code>nightly-tracker</code> of run 101');
    expect(rebuilt.summary).toContain(`(${sharedBlobs()} blobs)`);
  });

  test('an upload failing mid-run: that tar is not recorded, the ones before it are, and the tracker is saved', async () => {
    const services = memoryServices();
    services.failUploadOf('000002-b.tar');
    const rows = [`a,${ref('sources1')}`, `b,${ref('sources2')}`];
    const failed = await exportRun(services, { id: 101 }, rows, { 'cache-key-prefix': 'flaky' });
    expect(failed.error?.message).toMatch(/upload of 000002-b\.tar failed/);
    expect(services.events).toEqual(['restore miss', 'upload 000001-a.tar', 'save flaky-101-1', 'upload flaky-tracker']);
    const tracker = await readFile(join(failed.syncDir, 'record-keeping.csv'), 'utf8');
    expect(tracker).toContain('000001-a.tar');
    expect(tracker).not.toContain('000002-b.tar');
    expect(trackerText(services, 'flaky-101-1')).toBe(tracker);
    expect(failed.outputs).toMatchObject({ [Outputs.Shipped]: '1', [Outputs.TrackerCacheKey]: 'flaky-101-1' });
    expect(Object.keys(JSON.parse(failed.outputs[Outputs.ArtifactIds] ?? '{}'))).toEqual(['000001-a.tar']);
    expect(failed.summary).toMatch(/The run failed: upload of 000002-b\.tar failed/);
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
      if (name !== '000002-tools.tar') return;
      const other = services.entries[0];
      if (other) services.entries.push({ ...other, key: 'nightly-150-1' });
    };
    const run = await exportRun(services, { id: 102 }, [`tools,${ref('sources2')}`]);
    expect(run.error).toBeUndefined();
    expect(run.stdout).toContain('::warning::Another run saved the tracker as nightly-150-1 after this run restored nightly-101-1');
    expect(services.entries.map((entry) => entry.key)).toEqual(['nightly-101-1', 'nightly-150-1', 'nightly-102-1']);
  });
});

describe('plan', () => {
  test('a pull request plans against the restored tracker: nothing uploaded or saved, the plan as JSON', async () => {
    const services = memoryServices();
    expect((await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`])).error).toBeUndefined();
    const events = services.events.length;

    const plan = await exportRun(services, { id: 102, event: 'pull_request' }, [`tools,${ref('sources2')}`]);
    expect(plan.error).toBeUndefined();
    expect(plan.settings?.mode).toBe('plan');
    expect(services.events.slice(events)).toEqual(['restore nightly-101-1']);
    expect(await readdir(plan.syncDir)).toEqual(['record-keeping.csv', 'record-keeping.ledger.jsonl']);
    const planned = JSON.parse(plan.outputs[Outputs.Plan] ?? '{}') as { planned: unknown[] };
    expect(planned.planned).toEqual([expect.objectContaining({ name: 'tools', deduplicatedBlobs: sharedBlobs() })]);
    expect(plan.outputs).toMatchObject({ [Outputs.Shipped]: '0', [Outputs.Skipped]: '0', [Outputs.TrackerCacheKey]: 'nightly-101-1' });
    expect(plan.outputs[Outputs.Tars]).toBeUndefined();
    expect(plan.summary).toMatch(/batch-serialize: plan/);
    expect(plan.summary).toContain(`<tr>${PLAN_COLUMNS.map((column) => `<th>${column}</th>`).join('')}</tr>`);
    expect(plan.summary).toContain(`<tr><td>000002-tools.tar</td><td>${ref('sources1')} → ${ref('sources2')}</td>`);
  });

  test('mode plan outside a pull request plans too; on a first run everything would ship', async () => {
    const services = memoryServices();
    const plan = await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`], { mode: 'plan' });
    expect(plan.error).toBeUndefined();
    expect(services.events).toEqual(['restore miss']);
    expect(plan.summary).toContain(`<td>000001-tools.tar</td><td>(new) → ${ref('sources1')}</td>`);
  });
});

describe('a bad batch list', () => {
  test('a malformed row fails with file:line before anything is restored', async () => {
    const services = memoryServices();
    const run = await exportRun(services, { id: 101 }, [`tools,${ref('sources1')}`, `ops,${ref('sources2')},extra`]);
    expect(run.error?.message).toMatch(/batch\.csv:3: expected 2 columns \(name,artifact\), found 3/);
    expect(services.events).toEqual([]);
  });

  test('a row that cannot be resolved fails the plan with file:line', async () => {
    const services = memoryServices();
    const run = await exportRun(services, { id: 101, event: 'pull_request' }, [`tools,${ref('sources1')}`, `ops,${ref('no-such-tag')}`]);
    expect(run.error?.message).toMatch(/batch\.csv:3: .*no-such-tag/);
    expect(services.artifactsStored).toEqual([]);
    expect(services.entries).toEqual([]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
