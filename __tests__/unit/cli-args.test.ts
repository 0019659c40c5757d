import { describe, expect, test } from 'vitest';
import { DESERIALIZE_USAGE, parseCommandLine, PLAN_USAGE, USAGE, UsageError, VERIFY_USAGE } from '../../src/cli/args.ts';
import { Defaults } from '../../src/core/defaults.ts';
import { DEFAULT_TIMEOUTS } from '../../src/core/registry/client.ts';

/** The UsageError parseCommandLine throws, for checking its message and which usage text it carries. */
function usageError(argv: string[]): UsageError {
  try {
    parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(argv)} parsed without a usage error`);
}

describe('serialize', () => {
  test('BATCH-LIST SYNC-DIRECTORY alone: every setting at its default', () => {
    expect(parseCommandLine(['batch.csv', 'sync'])).toEqual({
      kind: 'serialize',
      json: false,
      insecureRegistries: [],
      timeouts: DEFAULT_TIMEOUTS,
      settings: {
        batchFile: 'batch.csv',
        syncDir: 'sync',
        trackerFilename: Defaults.trackerFilename,
        compression: Defaults.compression,
        compressionLevel: undefined,
        manifestJson: false,
        dedupScope: Defaults.dedupScope,
        dryRun: false,
        concurrency: Defaults.concurrency,
      },
    });
  });

  test('every option, options before and after the positionals', () => {
    const argv = [
      '--compression',
      'zstd',
      '--compression-level',
      '19',
      'lists/batch.csv',
      '--tracker-filename',
      'tracker.csv',
      '--manifest-json',
      '--dedup-scope',
      'all',
      '--dry-run',
      'out',
      '--concurrency',
      '16',
      '--insecure-registry',
      'registry.lan:5000',
      '--insecure-registry',
      'mirror.lan',
      '--connect-timeout',
      '5',
      '--response-timeout',
      '600',
      '--idle-timeout',
      '120',
      '--json',
    ];
    expect(parseCommandLine(argv)).toEqual({
      kind: 'serialize',
      json: true,
      insecureRegistries: ['registry.lan:5000', 'mirror.lan'],
      timeouts: { connectTimeoutMs: 5000, headersTimeoutMs: 600_000, bodyTimeoutMs: 120_000 },
      settings: {
        batchFile: 'lists/batch.csv',
        syncDir: 'out',
        trackerFilename: 'tracker.csv',
        compression: 'zstd',
        compressionLevel: 19,
        manifestJson: true,
        dedupScope: 'all',
        dryRun: true,
        concurrency: 16,
      },
    });
  });

  test('gzip levels run 0-9, the option=value form works', () => {
    const command = parseCommandLine(['b.csv', 's', '--compression=gzip', '--compression-level=0']);
    expect(command).toMatchObject({ kind: 'serialize', settings: { compression: 'gzip', compressionLevel: 0 } });
  });

  test('a batch list named like a far-side command is given as ./verify', () => {
    const command = parseCommandLine(['./verify', 'sync']);
    expect(command).toMatchObject({ kind: 'serialize', settings: { batchFile: './verify', syncDir: 'sync' } });
  });

  test.each([
    [[], /expected BATCH-LIST and SYNC-DIRECTORY, got 0 argument\(s\)/],
    [['batch.csv'], /expected BATCH-LIST and SYNC-DIRECTORY, got 1 argument\(s\)/],
    [['a', 'b', 'c'], /got 3 argument\(s\)/],
    [['b.csv', 's', '--bogus'], /^unknown option --bogus$/],
    [['b.csv', 's', '--compression'], /--compression/],
    [['b.csv', 's', '--compression', 'bzip2'], /^--compression: unknown compression "bzip2"/],
    [['b.csv', 's', '--compression-level', '5'], /^--compression-level needs compression gzip or zstd$/],
    [['b.csv', 's', '--compression', 'gzip', '--compression-level', '10'], /^--compression-level "10": a whole number from 0 to 9$/],
    [['b.csv', 's', '--compression', 'zstd', '--compression-level', '0'], /^--compression-level "0": a whole number from 1 to 22$/],
    [['b.csv', 's', '--tracker-filename', 'dir/tracker.csv'], /^--tracker-filename "dir\/tracker.csv": a plain file name/],
    [['b.csv', 's', '--tracker-filename', '.hidden'], /^--tracker-filename "\.hidden": a plain file name/],
    [['b.csv', 's', '--dedup-scope', 'repo'], /^--dedup-scope "repo": use name or all$/],
    [['b.csv', 's', '--concurrency', '0'], /^--concurrency "0": a whole number from 1 to 64$/],
    [['b.csv', 's', '--concurrency', '65'], /^--concurrency "65": a whole number from 1 to 64$/],
    [['b.csv', 's', '--connect-timeout', '0'], /^--connect-timeout "0": a whole number from 1 to 3600$/],
    [['b.csv', 's', '--idle-timeout', '1.5'], /^--idle-timeout "1.5": a whole number from 1 to 3600$/],
    [['b.csv', 's', '--concurrency', '2.5'], /^--concurrency "2\.5": a whole number/],
    [['b.csv', 's', '--json=yes'], /--json/],
  ])('%j is bad usage, with the serialize usage', (argv, message) => {
    const error = usageError(argv);
    expect(error.message).toMatch(message);
    expect(error.usage).toBe(USAGE);
  });

  test('--help and -h print the usage; --version and -v the version; help wins over missing arguments', () => {
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help', usage: USAGE });
    expect(parseCommandLine(['-h', 'batch.csv'])).toEqual({ kind: 'help', usage: USAGE });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
    expect(parseCommandLine(['-v'])).toEqual({ kind: 'version' });
  });

  test('the usage texts state the shared defaults', () => {
    expect(USAGE).toContain(`--compression none|gzip|zstd   compress the whole tar (default ${Defaults.compression})`);
    expect(USAGE).toContain(`(default ${Defaults.trackerFilename})`);
    expect(USAGE).toContain(`(default ${Defaults.dedupScope})`);
    expect(USAGE).toContain(`blobs fetched at once (default ${Defaults.concurrency})`);
    expect(VERIFY_USAGE).toContain(`(default ${Defaults.trackerFilename})`);
    expect(VERIFY_USAGE).toContain(`(default: the scope each tar records, else ${Defaults.dedupScope})`);
    expect(DESERIALIZE_USAGE).toContain(`(default: the scope each tar records, else ${Defaults.dedupScope})`);
  });
});

describe('a run over several machines: plan, serialize --shard, record', () => {
  test('plan takes the serialize options and --shards; serialize BATCH SYNC is the bare form', () => {
    const bare = parseCommandLine(['b.csv', 's', '--compression', 'zstd']);
    expect(parseCommandLine(['serialize', 'b.csv', 's', '--compression', 'zstd'])).toEqual(bare);
    expect(parseCommandLine(['plan', 'b.csv', 's', '--compression', 'zstd', '--shards', '3', '--json'])).toEqual({
      ...bare,
      kind: 'plan',
      shards: 3,
      json: true,
    });
  });

  test('serialize --shard K --plan FILE DIRECTORY: only how the shard reaches the registry is its own', () => {
    const argv = ['serialize', '--shard', '2', '--plan', 'p.json', 'out', '--concurrency', '8', '--insecure-registry', 'reg.lan', '--json'];
    expect(parseCommandLine(argv)).toEqual({
      kind: 'shard',
      planFile: 'p.json',
      shard: 2,
      dir: 'out',
      concurrency: 8,
      insecureRegistries: ['reg.lan'],
      timeouts: DEFAULT_TIMEOUTS,
      json: true,
    });
  });

  test('record SYNC --plan FILE SHARD-RECORD...', () => {
    expect(parseCommandLine(['record', 's', '--plan', 'p.json', 'a.json', 'b.json'])).toEqual({
      kind: 'record',
      dir: 's',
      planFile: 'p.json',
      recordFiles: ['a.json', 'b.json'],
      json: false,
    });
    expect(parseCommandLine(['plan', '--help'])).toEqual({ kind: 'help', usage: PLAN_USAGE });
  });

  test.each([
    [['plan', 'b.csv', 's'], /^plan needs --shards N \(1-256\): at most how many shards$/],
    [['plan', 'b.csv', 's', '--shards', '0'], /^--shards "0": a whole number from 1 to 256$/],
    [['plan', 'b.csv', 's', '--shards', '2', '--dry-run'], /^unknown option --dry-run/],
    [['plan', 'b.csv', '--shards', '2'], /^plan expects BATCH-LIST and SYNC-DIRECTORY, got 1 argument\(s\)$/],
    [['serialize', '--shard', '1', 'dir'], /^serialize needs --shard K and --plan FILE together$/],
    [['serialize', '--plan', 'p.json', 'dir'], /^serialize needs --shard K and --plan FILE together$/],
    [['serialize', '--shard', '1', '--plan', 'p.json'], /^serialize --shard expects DIRECTORY \(the shard's own\), got 0 argument/],
    [['serialize', '--shard', '1', '--plan', 'p.json', 'dir', '--compression', 'zstd'], /^--compression: a shard writes with its plan's/],
    [['serialize', '--shard', '1', '--plan', 'p.json', 'dir', '--dedup-scope=all'], /^--dedup-scope: a shard writes with its plan's/],
    [['record', 's'], /^record needs --plan FILE \(the plan the shards wrote\)$/],
    [['record', '--plan', 'p.json'], /^record expects SYNC-DIRECTORY and the SHARD-RECORD files$/],
  ])('%j is bad usage, with the plan usage', (argv, message) => {
    const error = usageError(argv);
    expect(error.message).toMatch(message);
    expect(error.usage).toBe(PLAN_USAGE);
  });
});

describe('verify', () => {
  test('SYNC-DIRECTORY alone: the defaults', () => {
    expect(parseCommandLine(['verify', 'sync'])).toEqual({
      kind: 'verify',
      json: false,
      options: { dir: 'sync', dedupScope: undefined, trackerFilename: Defaults.trackerFilename },
    });
  });

  test('every option', () => {
    expect(parseCommandLine(['verify', '--dedup-scope', 'all', 'sync', '--tracker-filename', 't.csv', '--json'])).toEqual({
      kind: 'verify',
      json: true,
      options: { dir: 'sync', dedupScope: 'all', trackerFilename: 't.csv' },
    });
  });

  test('help', () => {
    expect(parseCommandLine(['verify', '--help'])).toEqual({ kind: 'help', usage: VERIFY_USAGE });
    expect(parseCommandLine(['verify', '-h'])).toEqual({ kind: 'help', usage: VERIFY_USAGE });
  });

  test.each([
    [['verify'], /^verify expects SYNC-DIRECTORY, got 0 argument\(s\)$/],
    [['verify', 'a', 'b'], /^verify expects SYNC-DIRECTORY, got 2 argument\(s\)$/],
    [['verify', 'sync', '--compression', 'gzip'], /^unknown option --compression$/],
    [['verify', 'sync', '--dry-run'], /^unknown option --dry-run$/],
    [['verify', 'sync', '--dedup-scope', 'some'], /^--dedup-scope "some": use name or all$/],
    [['verify', 'sync', '--tracker-filename', 'a/b'], /^--tracker-filename "a\/b": a plain file name/],
  ])('%j is bad usage, with the verify usage', (argv, message) => {
    const error = usageError(argv);
    expect(error.message).toMatch(message);
    expect(error.usage).toBe(VERIFY_USAGE);
  });
});

describe('deserialize', () => {
  test('SYNC-DIRECTORY DEST alone: the defaults', () => {
    expect(parseCommandLine(['deserialize', 'sync', 'registry.lan:5000/mirror'])).toEqual({
      kind: 'deserialize',
      dir: 'sync',
      destination: { registry: 'registry.lan:5000', path: 'mirror' },
      dedupScope: undefined,
      scatter: false,
      scatterMap: undefined,
      insecureRegistries: [],
      timeouts: DEFAULT_TIMEOUTS,
      json: false,
    });
  });

  test('every option', () => {
    const argv = [
      'deserialize',
      'sync',
      'localhost:5000',
      '--dedup-scope',
      'all',
      '--scatter',
      '--scatter-map',
      'scatter.map',
      '--insecure-registry',
      'a.lan',
      '--insecure-registry',
      'b.lan',
      '--idle-timeout',
      '3600',
      '--json',
    ];
    expect(parseCommandLine(argv)).toEqual({
      kind: 'deserialize',
      dir: 'sync',
      destination: { registry: 'localhost:5000', path: '' },
      dedupScope: 'all',
      scatter: true,
      scatterMap: 'scatter.map',
      insecureRegistries: ['a.lan', 'b.lan'],
      timeouts: { ...DEFAULT_TIMEOUTS, bodyTimeoutMs: 3_600_000 },
      json: true,
    });
  });

  test('help', () => {
    expect(parseCommandLine(['deserialize', '--help'])).toEqual({ kind: 'help', usage: DESERIALIZE_USAGE });
    expect(parseCommandLine(['deserialize', '-h'])).toEqual({ kind: 'help', usage: DESERIALIZE_USAGE });
  });

  test.each([
    [['deserialize', 'sync'], /^deserialize expects SYNC-DIRECTORY and DEST, got 1 argument\(s\)$/],
    [['deserialize', 'sync', 'r.lan', 'extra'], /got 3 argument\(s\)/],
    [['deserialize', 'sync', 'r.lan', '--scatter-map', 'm'], /^--scatter-map needs --scatter$/],
    [['deserialize', 'sync', 'r.lan', '--dry-run'], /^unknown option --dry-run$/],
    [['deserialize', 'sync', 'r.lan', '--dedup-scope', 'x'], /^--dedup-scope "x": use name or all$/],
    [['deserialize', 'sync', 'mirror'], /^destination "mirror": expected HOST\[:PORT\]\[\/PATH\]/],
    [['deserialize', 'sync', 'r.lan/mirror:tag'], /^destination "r\.lan\/mirror:tag": expected HOST/],
    [['deserialize', 'sync', 'r.lan/Mirror'], /^destination "r\.lan\/Mirror": .*bad repository path component "Mirror"/],
  ])('%j is bad usage, with the deserialize usage', (argv, message) => {
    const error = usageError(argv);
    expect(error.message).toMatch(message);
    expect(error.usage).toBe(DESERIALIZE_USAGE);
  });
});

describe('a misspelt option', () => {
  test.each([
    [['b.csv', 's', '--compresion', 'zstd'], 'unknown option --compresion: did you mean --compression?', USAGE],
    [['b.csv', 's', '--dryrun'], 'unknown option --dryrun: did you mean --dry-run?', USAGE],
    [['verify', 's', '--dedup-scop=all'], 'unknown option --dedup-scop: did you mean --dedup-scope?', VERIFY_USAGE],
    [['deserialize', 's', 'h:5000', '--scater'], 'unknown option --scater: did you mean --scatter?', DESERIALIZE_USAGE],
    [['b.csv', 's', '--frobnicate'], 'unknown option --frobnicate', USAGE],
  ])('%j: one line, the nearest option, no parser prose', (argv, message, usage) => {
    const error = usageError(argv);
    expect(error.message).toBe(message);
    expect(error.brief).toBe(true);
    expect(error.usage).toBe(usage);
  });

  test('a wrong number of arguments still shows the whole usage', () => {
    expect(usageError(['verify']).brief).toBe(false);
  });
});

test.each([['verify'], ['deserialize'], ['collect']])('%s --version and -v print the version', (command) => {
  expect(parseCommandLine([command, '--version'])).toEqual({ kind: 'version' });
  expect(parseCommandLine([command, '-v'])).toEqual({ kind: 'version' });
});

test('--successful-syncs FILE puts the record elsewhere, for deserialize and verify', () => {
  expect(parseCommandLine(['deserialize', 'sync', 'far:5000', '--successful-syncs', '/rw/record.csv'])).toMatchObject({
    recordPath: '/rw/record.csv',
  });
  expect(parseCommandLine(['deserialize', 'sync', 'far:5000'])).toMatchObject({ recordPath: undefined });
  expect(parseCommandLine(['verify', 'sync', '--successful-syncs', '/rw/record.csv'])).toMatchObject({
    options: { recordPath: '/rw/record.csv' },
  });
});
