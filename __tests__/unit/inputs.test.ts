/** readSettings (actions/checkout's input-helper): @actions/core reads each input from its INPUT_* variable. */
import '../../testkit/quiet-actions-debug.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { InputDefaults, Inputs } from '../../src/action/constants.ts';
import { defaultCacheKeyPrefix, readSettings, type ActionSettings } from '../../src/action/inputs.ts';
import { Defaults } from '../../src/core/defaults.ts';
import { InputError } from '../../src/core/input-error.ts';

const runEnv = { RUNNER_TEMP: '/runner/temp', GITHUB_RUN_ID: '4242', GITHUB_RUN_ATTEMPT: '2', GITHUB_REPOSITORY: 'octo-org/octo-repo' };

afterEach(() => vi.unstubAllEnvs());

interface Read {
  settings: ActionSettings;
  printed: string;
}

/** readSettings with these inputs (and no others) and this run environment; what it printed to stdout. */
function settingsWith(inputs: Record<string, string>, env: Record<string, string | undefined> = runEnv): Read {
  for (const name of Object.keys(process.env)) if (name.startsWith('INPUT_')) vi.stubEnv(name, undefined);
  for (const [name, value] of Object.entries(inputs)) vi.stubEnv(`INPUT_${name.replace(/ /g, '_').toUpperCase()}`, value);
  const printed: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => printed.push(String(chunk)) > 0);
  try {
    return { settings: readSettings({ ...env }), printed: printed.join('') };
  } finally {
    stdout.mockRestore();
  }
}

function inputError(inputs: Record<string, string>, env?: Record<string, string | undefined>): string {
  try {
    settingsWith(inputs, env);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error(`${JSON.stringify(inputs)} was accepted`);
}

const expectedDefaults: ActionSettings = {
  batch: {
    batchFile: 'batch.csv',
    syncDir: join('/runner/temp', 'batch-serialize', 'sync'),
    trackerFilename: Defaults.trackerFilename,
    compression: Defaults.compression,
    compressionLevel: undefined,
    manifestJson: false,
    dedupScope: Defaults.dedupScope,
    dryRun: false,
    concurrency: Defaults.concurrency,
  },
  mode: 'serialize',
  cacheKeyPrefix: 'batch-serialize-batch.csv',
  upload: true,
  retentionDays: undefined,
  registryLogin: undefined,
  insecureRegistries: [],
  githubToken: '',
  run: { id: 4242, attempt: 2, repository: 'octo-org/octo-repo', eventName: '' },
};

describe('defaults', () => {
  test('no inputs at all: every default', () => {
    expect(settingsWith({}).settings).toEqual(expectedDefaults);
  });

  test("action.yml's defaults, as the runner passes them, read the same", async () => {
    const action = parseYaml(await readFile(new URL('../../action.yml', import.meta.url), 'utf8')) as {
      inputs: Record<string, { default?: string }>;
    };
    const given = Object.fromEntries(Object.entries(action.inputs).map(([name, input]) => [name, input.default ?? '']));
    given[Inputs.GithubToken] = 'ghs_token';
    expect(settingsWith(given).settings).toEqual({ ...expectedDefaults, githubToken: 'ghs_token' });
    expect(Object.keys(InputDefaults).every((name) => name in given)).toBe(true);
  });

  test('GITHUB_RUN_ATTEMPT defaults to 1; the event name is kept', () => {
    const { settings } = settingsWith({}, { ...runEnv, GITHUB_RUN_ATTEMPT: undefined, GITHUB_EVENT_NAME: 'schedule' });
    expect(settings.run).toEqual({ id: 4242, attempt: 1, repository: 'octo-org/octo-repo', eventName: 'schedule' });
  });

  test('the cache key prefix comes from the batch file: one tracker per list', () => {
    expect(settingsWith({ [Inputs.BatchFile]: './lists/nightly.csv' }).settings.cacheKeyPrefix).toBe('batch-serialize-lists_nightly.csv');
    expect(defaultCacheKeyPrefix('lists/a b+c.csv')).toBe('batch-serialize-lists_a_b_c.csv');
    expect(settingsWith({ [Inputs.CacheKeyPrefix]: 'mine' }).settings.cacheKeyPrefix).toBe('mine');
  });
});

describe('every input', () => {
  test('given values are read and parsed', () => {
    const { settings } = settingsWith({
      [Inputs.BatchFile]: 'lists/nightly.csv',
      [Inputs.SyncDirectory]: '/data/sync',
      [Inputs.Compression]: 'gzip',
      [Inputs.CompressionLevel]: '9',
      [Inputs.TrackerFilename]: 'tracker.csv',
      [Inputs.DedupScope]: 'all',
      [Inputs.Mode]: 'serialize',
      [Inputs.CacheKeyPrefix]: 'nightly',
      [Inputs.Upload]: 'FALSE',
      [Inputs.RetentionDays]: '90',
      [Inputs.Concurrency]: '64',
      [Inputs.Registry]: 'ghcr.io',
      [Inputs.RegistryUsername]: 'robot',
      [Inputs.RegistryPassword]: 's3cret',
      [Inputs.InsecureRegistries]: 'registry.lan:5000\n\n  mirror.lan  \n',
      [Inputs.GithubToken]: 'ghs_token',
    });
    expect(settings).toEqual({
      batch: {
        batchFile: 'lists/nightly.csv',
        syncDir: '/data/sync',
        trackerFilename: 'tracker.csv',
        compression: 'gzip',
        compressionLevel: 9,
        manifestJson: false,
        dedupScope: 'all',
        dryRun: false,
        concurrency: 64,
      },
      mode: 'serialize',
      cacheKeyPrefix: 'nightly',
      upload: false,
      retentionDays: 90,
      registryLogin: { registry: 'ghcr.io', username: 'robot', password: 's3cret' },
      insecureRegistries: ['registry.lan:5000', 'mirror.lan'],
      githubToken: 'ghs_token',
      run: { id: 4242, attempt: 2, repository: 'octo-org/octo-repo', eventName: '' },
    });
  });

  test('the registry password and the token are masked before anything else', () => {
    const secrets = { [Inputs.RegistryUsername]: 'robot', [Inputs.RegistryPassword]: 's3cret', [Inputs.GithubToken]: 'ghs_token' };
    const { printed } = settingsWith(secrets);
    expect(printed.split('\n').filter(Boolean)).toEqual(['::add-mask::s3cret', '::add-mask::ghs_token']);
  });

  test('registry-username without registry: the registry is found in the batch list later', () => {
    const { settings } = settingsWith({ [Inputs.RegistryUsername]: 'robot', [Inputs.RegistryPassword]: 's3cret' });
    expect(settings.registryLogin).toEqual({ registry: undefined, username: 'robot', password: 's3cret' });
  });

  test.each([
    ['auto', 'pull_request', 'plan'],
    ['auto', 'pull_request_target', 'plan'],
    ['auto', 'push', 'serialize'],
    ['auto', '', 'serialize'],
    ['plan', 'push', 'plan'],
    ['serialize', 'pull_request', 'serialize'],
  ])('mode %s on event %j: %s', (mode, event, expected) => {
    expect(settingsWith({ [Inputs.Mode]: mode }, { ...runEnv, GITHUB_EVENT_NAME: event }).settings.mode).toBe(expected);
  });

  test.each(['true', 'True', 'TRUE'])('upload %j is true', (value) => {
    expect(settingsWith({ [Inputs.Upload]: value }).settings.upload).toBe(true);
  });

  test('zstd levels run 1-22', () => {
    expect(settingsWith({ [Inputs.Compression]: 'zstd', [Inputs.CompressionLevel]: '22' }).settings.batch.compressionLevel).toBe(22);
  });
});

describe('each validation error', () => {
  test.each([
    [{ [Inputs.Compression]: 'bzip2' }, /^input compression: unknown compression "bzip2"/],
    [{ [Inputs.CompressionLevel]: '3' }, /^input compression-level needs compression gzip or zstd$/],
    [{ [Inputs.Compression]: 'gzip', [Inputs.CompressionLevel]: '10' }, /^input compression-level "10": a whole number from 0 to 9$/],
    [{ [Inputs.Compression]: 'zstd', [Inputs.CompressionLevel]: '0' }, /^input compression-level "0": a whole number from 1 to 22$/],
    [{ [Inputs.Compression]: 'zstd', [Inputs.CompressionLevel]: 'max' }, /^input compression-level "max": a whole number from 1 to 22$/],
    [{ [Inputs.TrackerFilename]: 'sub/tracker.csv' }, /^input tracker-filename "sub\/tracker\.csv": a plain file name inside/],
    [{ [Inputs.TrackerFilename]: '.tracker.csv' }, /^input tracker-filename "\.tracker\.csv": a plain file name/],
    [{ [Inputs.DedupScope]: 'repository' }, /^input dedup-scope "repository": use name or all$/],
    [{ [Inputs.Mode]: 'yolo' }, /^input mode "yolo": use auto, serialize or plan$/],
    [{ [Inputs.Upload]: 'yes' }, /^input upload "yes": use true or false$/],
    [{ [Inputs.RetentionDays]: '0' }, /^input retention-days "0": a whole number from 1 to 90$/],
    [{ [Inputs.RetentionDays]: '91' }, /^input retention-days "91": a whole number from 1 to 90$/],
    [{ [Inputs.Concurrency]: '0' }, /^input concurrency "0": a whole number from 1 to 64$/],
    [{ [Inputs.Concurrency]: '65' }, /^input concurrency "65": a whole number from 1 to 64$/],
    [{ [Inputs.Concurrency]: 'four' }, /^input concurrency "four": a whole number from 1 to 64$/],
    [{ [Inputs.RegistryUsername]: 'robot' }, /^inputs registry-username and registry-password go together: give both or neither$/],
    [{ [Inputs.RegistryPassword]: 's3cret' }, /^inputs registry-username and registry-password go together/],
  ])('%j', (inputs, message) => {
    expect(inputError(inputs)).toMatch(message);
  });

  test.each([
    [{ ...runEnv, RUNNER_TEMP: undefined }, /^RUNNER_TEMP is not set: run this inside a GitHub Actions job$/],
    [{ ...runEnv, GITHUB_RUN_ID: undefined }, /^GITHUB_RUN_ID is not set/],
    [{ ...runEnv, GITHUB_RUN_ID: 'abc' }, /^GITHUB_RUN_ID "abc": a whole number from 1 to/],
    [{ ...runEnv, GITHUB_RUN_ATTEMPT: '0' }, /^GITHUB_RUN_ATTEMPT "0": a whole number from 1 to/],
    [{ ...runEnv, GITHUB_REPOSITORY: undefined }, /^GITHUB_REPOSITORY is not set/],
  ])('outside a job: %j', (env, message) => {
    expect(inputError({}, env)).toMatch(message);
  });
});
