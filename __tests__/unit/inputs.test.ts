/** readSettings (actions/checkout's input-helper): @actions/core reads each input from its INPUT_* variable. */
import '../../testkit/quiet-actions-debug.ts';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { InputDefaults, Inputs } from '../../src/action/constants.ts';
import { defaultCacheKeyPrefix, readSettings, type ActionSettings } from '../../src/action/inputs.ts';
import { Defaults } from '../../src/core/defaults.ts';
import { DEFAULT_TIMEOUTS } from '../../src/core/registry/client.ts';
import { InputError } from '../../src/core/input-error.ts';

const EVENT = join(tmpdir(), `bs-inputs-event-${process.pid}.json`);
writeFileSync(EVENT, JSON.stringify({ repository: { id: 99, default_branch: 'main' } }));

const runEnv = {
  RUNNER_TEMP: '/runner/temp',
  GITHUB_RUN_ID: '4242',
  GITHUB_RUN_ATTEMPT: '2',
  GITHUB_REPOSITORY: 'octo-org/octo-repo',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_EVENT_PATH: EVENT,
};
const runContext = {
  id: 4242,
  attempt: 2,
  repository: 'octo-org/octo-repo',
  repositoryId: 99,
  eventName: '',
  ref: 'refs/heads/main',
  defaultBranch: 'main',
  onGhes: false,
};

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
    syncDir: join('/runner/temp', 'batch-serialize', 'batch-serialize-batch.csv'),
    trackerFilename: Defaults.trackerFilename,
    compression: Defaults.compression,
    compressionLevel: undefined,
    manifestJson: false,
    dedupScope: Defaults.dedupScope,
    dryRun: false,
    concurrency: Defaults.concurrency,
    keepTars: false,
  },
  mode: 'serialize',
  cacheKeyPrefix: 'batch-serialize-batch.csv',
  upload: true,
  retentionDays: undefined,
  trackerRetentionDays: 90,
  startOver: false,
  shards: 256,
  shard: undefined,
  registryLogin: undefined,
  insecureRegistries: [],
  timeouts: DEFAULT_TIMEOUTS,
  githubToken: '',
  run: runContext,
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

  test('GITHUB_RUN_ATTEMPT defaults to 1; the event name is kept; GITHUB_REPOSITORY_ID wins over the payload', () => {
    const env = { ...runEnv, GITHUB_RUN_ATTEMPT: undefined, GITHUB_EVENT_NAME: 'schedule', GITHUB_REPOSITORY_ID: '7' };
    expect(settingsWith({}, env).settings.run).toEqual({ ...runContext, attempt: 1, eventName: 'schedule', repositoryId: 7 });
  });

  test('without an event payload the default branch and the repository id are unknown, and auto plans', () => {
    const { settings } = settingsWith({}, { ...runEnv, GITHUB_EVENT_PATH: undefined });
    expect(settings.run).toMatchObject({ defaultBranch: undefined, repositoryId: undefined });
    expect(settings.mode).toBe('plan');
  });

  test('each prefix has its own sync directory', () => {
    expect(settingsWith({ [Inputs.CacheKeyPrefix]: 'p4' }).settings.batch.syncDir).toBe(join('/runner/temp', 'batch-serialize', 'p4'));
    expect(settingsWith({ [Inputs.CacheKeyPrefix]: 'p4-extra' }).settings.batch.syncDir).toBe(
      join('/runner/temp', 'batch-serialize', 'p4-extra'),
    );
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
      [Inputs.RetentionDays]: '30',
      [Inputs.TrackerRetentionDays]: '60',
      [Inputs.StartOver]: 'true',
      [Inputs.KeepTars]: 'true',
      [Inputs.Shards]: '8',
      [Inputs.Shard]: '3',
      [Inputs.Concurrency]: '64',
      [Inputs.Registry]: 'ghcr.io',
      [Inputs.Username]: 'robot',
      [Inputs.Password]: 's3cret',
      [Inputs.InsecureRegistries]: 'registry.lan:5000\n\n  mirror.lan  \n',
      [Inputs.ConnectTimeout]: '10',
      [Inputs.ResponseTimeout]: '300',
      [Inputs.IdleTimeout]: '90',
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
        keepTars: true,
      },
      mode: 'serialize',
      cacheKeyPrefix: 'nightly',
      upload: false,
      retentionDays: 30,
      trackerRetentionDays: 60,
      startOver: true,
      shards: 8,
      shard: 3,
      registryLogin: { registry: 'ghcr.io', username: 'robot', password: 's3cret' },
      insecureRegistries: ['registry.lan:5000', 'mirror.lan'],
      timeouts: { connectTimeoutMs: 10_000, headersTimeoutMs: 300_000, bodyTimeoutMs: 90_000 },
      githubToken: 'ghs_token',
      run: runContext,
    });
  });

  test('the registry password and the token are masked before anything else', () => {
    const secrets = {
      [Inputs.Registry]: 'ghcr.io',
      [Inputs.Username]: 'robot',
      [Inputs.Password]: 's3cret',
      [Inputs.GithubToken]: 'ghs_token',
    };
    const { printed } = settingsWith(secrets);
    expect(printed.split('\n').filter(Boolean)).toEqual(['::add-mask::s3cret', '::add-mask::ghs_token']);
  });

  test.each([
    ['auto', 'pull_request', 'refs/pull/7/merge', 'plan'],
    ['auto', 'pull_request_target', 'refs/heads/main', 'plan'],
    ['auto', 'push', 'refs/heads/main', 'serialize'],
    ['auto', 'schedule', 'refs/heads/main', 'serialize'],
    ['auto', 'workflow_dispatch', 'refs/heads/feature', 'plan'],
    ['auto', 'push', 'refs/tags/v1', 'plan'],
    ['plan', 'push', 'refs/heads/main', 'plan'],
    ['serialize', 'workflow_dispatch', 'refs/heads/feature', 'serialize'],
    ['plan-shards', 'schedule', 'refs/heads/main', 'plan-shards'],
    ['record-shards', 'pull_request', 'refs/pull/7/merge', 'record-shards'],
  ])('mode %s on event %j at %s: %s', (mode, event, ref, expected) => {
    const env = { ...runEnv, GITHUB_EVENT_NAME: event, GITHUB_REF: ref };
    expect(settingsWith({ [Inputs.Mode]: mode }, env).settings.mode).toBe(expected);
  });

  test('on GitHub Enterprise Server uploads are refused at once; upload false runs', () => {
    const ghes = { ...runEnv, GITHUB_SERVER_URL: 'https://ghe.example.com' };
    expect(inputError({}, ghes)).toMatch(
      /^GitHub Enterprise Server \(https:\/\/ghe\.example\.com\) has no artifact service v4.*upload: false/,
    );
    expect(settingsWith({ [Inputs.Upload]: 'false' }, ghes).settings.run.onGhes).toBe(true);
    expect(settingsWith({}, { ...runEnv, GITHUB_SERVER_URL: 'https://octo.ghe.com' }).settings.run.onGhes).toBe(false);
  });

  test.each(['true', 'True', 'TRUE'])('upload %j is true', (value) => {
    expect(settingsWith({ [Inputs.Upload]: value }).settings.upload).toBe(true);
  });

  test('keep-tars false deletes the tars once uploaded, but with upload false they are always kept', () => {
    expect(settingsWith({}).settings.batch.keepTars).toBe(false);
    expect(settingsWith({ [Inputs.Upload]: 'false' }).settings.batch.keepTars).toBe(true);
  });

  test('max-file-size takes a size (bytes, K M G T, Ki Mi Gi Ti); none: no limit', () => {
    expect(settingsWith({}).settings.batch.maxFileSize).toBeUndefined();
    expect(settingsWith({ [Inputs.MaxFileSize]: '4.7G' }).settings.batch.maxFileSize).toBe(4_700_000_000);
    expect(settingsWith({ [Inputs.MaxFileSize]: '2GiB' }).settings.batch.maxFileSize).toBe(2 * 1024 ** 3);
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
    [{ [Inputs.MaxFileSize]: '4.7' }, /^input max-file-size "4\.7": a whole number of bytes \(bytes, or a number with K M G T/],
    [{ [Inputs.MaxFileSize]: '1KB' }, /^input max-file-size "1KB": less than the smallest part, 65536 bytes/],
    [{ [Inputs.MaxFileSize]: 'big' }, /^input max-file-size "big": not a size/],
    [{ [Inputs.TrackerFilename]: 'sub/tracker.csv' }, /^input tracker-filename "sub\/tracker\.csv": a plain file name inside/],
    [{ [Inputs.TrackerFilename]: '.tracker.csv' }, /^input tracker-filename "\.tracker\.csv": a plain file name/],
    [{ [Inputs.DedupScope]: 'repository' }, /^input dedup-scope "repository": use name or all$/],
    [{ [Inputs.Mode]: 'yolo' }, /^input mode "yolo": use auto, serialize, plan, plan-shards, serialize-shard or record-shards$/],
    [{ [Inputs.Mode]: 'serialize-shard' }, /^mode serialize-shard needs input shard: the matrix's shard \(shard: \$\{\{ matrix\.shard/],
    [{ [Inputs.Mode]: 'plan-shards', [Inputs.Upload]: 'false' }, /^mode plan-shards needs upload: true: each shard runs on a runner/],
    [{ [Inputs.Shards]: '257' }, /^input shards "257": a whole number from 1 to 256$/],
    [{ [Inputs.Shard]: '0' }, /^input shard "0": a whole number from 1 to 256$/],
    [{ [Inputs.KeepTars]: 'no' }, /^input keep-tars "no": use true or false$/],
    [{ [Inputs.Upload]: 'yes' }, /^input upload "yes": use true or false$/],
    [{ [Inputs.RetentionDays]: '0' }, /^input retention-days "0": a whole number from 1 to 90$/],
    [{ [Inputs.RetentionDays]: '91' }, /^input retention-days "91": a whole number from 1 to 90$/],
    [{ [Inputs.Concurrency]: '0' }, /^input concurrency "0": a whole number from 1 to 64$/],
    [{ [Inputs.Concurrency]: '65' }, /^input concurrency "65": a whole number from 1 to 64$/],
    [{ [Inputs.Concurrency]: 'four' }, /^input concurrency "four": a whole number from 1 to 64$/],
    [{ [Inputs.ResponseTimeout]: '3601' }, /^input response-timeout "3601": a whole number from 1 to 3600$/],
    [{ [Inputs.Username]: 'robot' }, /^inputs username and password go together: give both or neither$/],
    [{ [Inputs.Password]: 's3cret' }, /^inputs username and password go together/],
    [{ [Inputs.Username]: 'robot', [Inputs.Password]: 's3cret' }, /^input registry is needed with password: the one host/],
    [{ [Inputs.TrackerRetentionDays]: '91' }, /^input tracker-retention-days "91": a whole number from 1 to 90$/],
    [{ [Inputs.StartOver]: 'maybe' }, /^input start-over "maybe": use true or false$/],
    [{ [Inputs.CacheKeyPrefix]: 'a/b' }, /^input cache-key-prefix "a\/b": use 1-100 of/],
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
