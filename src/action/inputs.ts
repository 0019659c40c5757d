import * as core from '@actions/core';
import { join } from 'node:path';
import type { BatchSettings } from '../core/serialize/run.ts';
import { InputError } from '../core/input-error.ts';
import { checkTrackerFilename, parseCompressionLevel, parseCompressionSetting, parseDedupScope, parseWholeNumber } from '../core/setting-values.ts';
import { DEFAULT_TRACKER_FILENAME } from '../core/sync-dir/tracker.ts';

export type Mode = 'serialize' | 'plan';

/** Every input, read and validated once (actions/checkout's input-helper). */
export interface ActionSettings {
  batch: BatchSettings;
  mode: Mode;
  cacheKeyPrefix: string;
  upload: boolean;
  retentionDays: number | undefined;
  /** Credentials for one registry, given as inputs rather than through docker/login-action. */
  registryLogin: { registry: string | undefined; username: string; password: string } | undefined;
  insecureRegistries: string[];
  githubToken: string;
  run: { id: number; attempt: number; repository: string; eventName: string };
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): ActionSettings {
  // Masked first: nothing below may print them, but an error message might quote an input.
  const password = core.getInput('registry-password');
  const githubToken = core.getInput('github-token');
  if (password) core.setSecret(password);
  if (githubToken) core.setSecret(githubToken);

  const batchFile = core.getInput('batch-file') || 'batch.csv';
  const runnerTemp = env.RUNNER_TEMP ?? required(env, 'RUNNER_TEMP');
  const compression = parseCompressionSetting('input compression', core.getInput('compression') || 'none');
  const level = core.getInput('compression-level');
  const username = core.getInput('registry-username');
  if (Boolean(username) !== Boolean(password)) {
    throw new InputError('inputs registry-username and registry-password go together: give both or neither');
  }
  return {
    batch: {
      batchFile,
      syncDir: core.getInput('sync-directory') || join(runnerTemp, 'batch-serialize', 'sync'),
      trackerFilename: checkTrackerFilename('input tracker-filename', core.getInput('tracker-filename') || DEFAULT_TRACKER_FILENAME),
      compression,
      compressionLevel: level ? parseCompressionLevel('input compression-level', compression, level) : undefined,
      manifestJson: false,
      dedupScope: parseDedupScope('input dedup-scope', core.getInput('dedup-scope') || 'name'),
      dryRun: false,
      concurrency: parseWholeNumber('input concurrency', core.getInput('concurrency') || '4', 1, 64),
    },
    mode: parseMode(core.getInput('mode') || 'auto', env.GITHUB_EVENT_NAME ?? ''),
    cacheKeyPrefix: core.getInput('cache-key-prefix') || defaultCacheKeyPrefix(batchFile),
    upload: parseBoolean('upload', core.getInput('upload') || 'true'),
    retentionDays: optional(core.getInput('retention-days'), (text) => parseWholeNumber('input retention-days', text, 1, 90)),
    registryLogin: username ? { registry: core.getInput('registry') || undefined, username, password } : undefined,
    insecureRegistries: core.getMultilineInput('insecure-registries'),
    githubToken,
    run: {
      id: parseWholeNumber('GITHUB_RUN_ID', required(env, 'GITHUB_RUN_ID'), 1, Number.MAX_SAFE_INTEGER),
      attempt: parseWholeNumber('GITHUB_RUN_ATTEMPT', env.GITHUB_RUN_ATTEMPT ?? '1', 1, Number.MAX_SAFE_INTEGER),
      repository: required(env, 'GITHUB_REPOSITORY'),
      eventName: env.GITHUB_EVENT_NAME ?? '',
    },
  };
}

/** `auto` plans on pull requests (nothing is shipped from a PR) and serializes otherwise. */
function parseMode(value: string, eventName: string): Mode {
  if (value === 'serialize' || value === 'plan') return value;
  if (value === 'auto') return eventName === 'pull_request' || eventName === 'pull_request_target' ? 'plan' : 'serialize';
  throw new InputError(`input mode ${JSON.stringify(value)}: use auto, serialize or plan`);
}

/** One tracker per batch file: `batch-serialize-lists_nightly.csv` for `lists/nightly.csv`. */
export function defaultCacheKeyPrefix(batchFile: string): string {
  return `batch-serialize-${batchFile.replace(/^\.\//, '').replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

function parseBoolean(name: string, value: string): boolean {
  if (/^true$/i.test(value)) return true;
  if (/^false$/i.test(value)) return false;
  throw new InputError(`input ${name} ${JSON.stringify(value)}: use true or false`);
}

function optional<T>(text: string, parse: (text: string) => T): T | undefined {
  return text === '' ? undefined : parse(text);
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new InputError(`${name} is not set: run this inside a GitHub Actions job`);
  return value;
}
