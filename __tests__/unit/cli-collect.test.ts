import { describe, expect, test } from 'vitest';
import { COLLECT_USAGE, collectToken, parseCommandLine, USAGE, UsageError } from '../../src/cli/args.ts';

const TOKEN = { GITHUB_TOKEN: 'ghs_secret' };

/** The UsageError parseCommandLine throws for `collect ARGV` under `env`. */
function usageError(argv: string[], env: NodeJS.ProcessEnv = TOKEN): UsageError {
  try {
    parseCommandLine(['collect', ...argv], env);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(argv)} parsed without a usage error`);
}

describe('collect', () => {
  test('SYNC-DIRECTORY --prefix PREFIX: the repository and API from the environment, as on a runner', () => {
    const env = { ...TOKEN, GITHUB_REPOSITORY: 'octo-org/octo-repo', GITHUB_API_URL: 'https://ghe.example.com/api/v3' };
    expect(parseCommandLine(['collect', 'carry', '--prefix', 'batch-serialize-batch.csv'], env)).toEqual({
      kind: 'collect',
      dir: 'carry',
      prefix: 'batch-serialize-batch.csv',
      repository: 'octo-org/octo-repo',
      apiUrl: 'https://ghe.example.com/api/v3',
      trackerFilename: 'record-keeping.csv',
      json: false,
    });
  });

  test('api.github.com when GITHUB_API_URL is unset or empty; options win over the environment', () => {
    expect(parseCommandLine(['collect', 's', '--prefix', 'p', '--repo', 'o/r'], { GH_TOKEN: 'x', GITHUB_API_URL: '' })).toMatchObject({
      repository: 'o/r',
      apiUrl: 'https://api.github.com',
    });
    const env = { ...TOKEN, GITHUB_REPOSITORY: 'other/repo', GITHUB_API_URL: 'https://other.example' };
    expect(
      parseCommandLine(
        [
          'collect',
          '--json',
          '--repo=org/my.repo',
          's',
          '--api-url',
          'http://127.0.0.1:8080/',
          '--prefix=nightly_1',
          '--tracker-filename',
          'm.csv',
        ],
        env,
      ),
    ).toEqual({
      kind: 'collect',
      dir: 's',
      prefix: 'nightly_1',
      repository: 'org/my.repo',
      apiUrl: 'http://127.0.0.1:8080',
      trackerFilename: 'm.csv',
      json: true,
    });
  });

  test('the token is never part of the command; GITHUB_TOKEN first, then GH_TOKEN', () => {
    const command = parseCommandLine(['collect', 's', '--prefix', 'p', '--repo', 'o/r'], TOKEN);
    expect(JSON.stringify(command)).not.toContain('ghs_secret');
    expect(collectToken({ GITHUB_TOKEN: 'a', GH_TOKEN: 'b' })).toBe('a');
    expect(collectToken({ GH_TOKEN: ' b\n' })).toBe('b');
    expect(collectToken({ GITHUB_TOKEN: '', GH_TOKEN: 'b' })).toBe('b');
  });

  test('--token is refused by name, its value never echoed', () => {
    const error = usageError(['s', '--prefix', 'p', '--repo', 'o/r', '--token', 'ghp_leaked']);
    expect(error.message).toBe('--token: a token never goes on the command line (other users see it): set GITHUB_TOKEN or GH_TOKEN');
    expect(error.message).not.toContain('ghp_leaked');
    expect(error.usage).toBe(COLLECT_USAGE);
  });

  test('no token in the environment is bad usage', () => {
    expect(usageError(['s', '--prefix', 'p', '--repo', 'o/r'], { GITHUB_TOKEN: '  ' }).message).toBe(
      'collect needs a GitHub token in GITHUB_TOKEN or GH_TOKEN (never on the command line)',
    );
  });

  test.each([
    [['--prefix', 'p'], 'collect expects SYNC-DIRECTORY, got 0 argument(s)'],
    [['a', 'b', '--prefix', 'p'], 'collect expects SYNC-DIRECTORY, got 2 argument(s)'],
    [['s'], "collect needs --prefix PREFIX (the Action's cache-key-prefix)"],
    [['s', '--prefix', 'lists/nightly.csv'], '--prefix "lists/nightly.csv": use 1-100 of A-Z a-z 0-9 . _ -'],
    [['s', '--prefix', 'x'.repeat(101)], `--prefix "${'x'.repeat(101)}": use 1-100 of A-Z a-z 0-9 . _ -`],
    [['s', '--prefix', 'p'], 'collect needs --repo OWNER/NAME (GITHUB_REPOSITORY is not set)'],
    [['s', '--prefix', 'p', '--repo', 'octo-repo'], '--repo "octo-repo": expected OWNER/NAME'],
    [['s', '--prefix', 'p', '--repo', 'o/r/x'], '--repo "o/r/x": expected OWNER/NAME'],
    [['s', '--prefix', 'p', '--repo', 'o/r', '--api-url', 'api.github.com'], '"api.github.com" is not a URL'],
    [
      ['s', '--prefix', 'p', '--repo', 'o/r', '--api-url', 'http://ghe.example.com/api/v3'],
      'http://ghe.example.com: the token is sent only over https (plain http only to a loopback host)',
    ],
    [
      ['s', '--prefix', 'p', '--repo', 'o/r', '--api-url', 'https://user:pw@ghe.example.com/api/v3'],
      "https://ghe.example.com: give the API's base URL alone, without a query, fragment or credentials",
    ],
    [['s', '--prefix', 'p', '--repo', 'o/r', '--dry-run'], 'unknown option --dry-run'],
  ])('%j is bad usage: %s', (argv, message) => {
    const error = usageError(argv);
    expect(error.message).toContain(message);
    expect(error.usage).toBe(COLLECT_USAGE);
  });

  test('--help needs nothing else; the main usage points at it', () => {
    expect(parseCommandLine(['collect', '--help'], {})).toEqual({ kind: 'help', usage: COLLECT_USAGE });
    expect(parseCommandLine(['collect', '-h'], {})).toEqual({ kind: 'help', usage: COLLECT_USAGE });
    expect(USAGE).toContain('batch-serialize collect SYNC-DIRECTORY --prefix PREFIX    (see collect --help)');
    expect(COLLECT_USAGE).toContain('GITHUB_TOKEN or GH_TOKEN');
    for (const line of COLLECT_USAGE.split('\n')) expect(line.length).toBeLessThanOrEqual(120);
  });

  test('a batch list named collect is ./collect', () => {
    expect(parseCommandLine(['./collect', 'sync'], {})).toMatchObject({ kind: 'serialize', settings: { batchFile: './collect' } });
  });
});
