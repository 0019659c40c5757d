import * as core from '@actions/core';
import { join } from 'node:path';
import type { BatchSettings } from '../core/serialize/run.ts';
import { InputError } from '../core/input-error.ts';
import {
  checkTrackerFilename,
  parseCompressionLevel,
  parseCompressionSetting,
  parseDedupScope,
  parseWholeNumber,
} from '../core/setting-values.ts';
import { CONCURRENCY_RANGE } from '../core/defaults.ts';
import { InputDefaults, Inputs } from './constants.ts';

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
  const password = core.getInput(Inputs.RegistryPassword);
  const githubToken = core.getInput(Inputs.GithubToken);
  if (password) core.setSecret(password);
  if (githubToken) core.setSecret(githubToken);

  const batchFile = inputOrDefault(Inputs.BatchFile);
  const runnerTemp = env.RUNNER_TEMP ?? required(env, 'RUNNER_TEMP');
  const compression = parseCompressionSetting(`input ${Inputs.Compression}`, inputOrDefault(Inputs.Compression));
  const level = core.getInput(Inputs.CompressionLevel);
  const username = core.getInput(Inputs.RegistryUsername);
  if (Boolean(username) !== Boolean(password)) {
    throw new InputError(`inputs ${Inputs.RegistryUsername} and ${Inputs.RegistryPassword} go together: give both or neither`);
  }
  return {
    batch: {
      batchFile,
      syncDir: core.getInput(Inputs.SyncDirectory) || join(runnerTemp, 'batch-serialize', 'sync'),
      trackerFilename: checkTrackerFilename(`input ${Inputs.TrackerFilename}`, inputOrDefault(Inputs.TrackerFilename)),
      compression,
      compressionLevel: level ? parseCompressionLevel(`input ${Inputs.CompressionLevel}`, compression, level) : undefined,
      manifestJson: false,
      dedupScope: parseDedupScope(`input ${Inputs.DedupScope}`, inputOrDefault(Inputs.DedupScope)),
      dryRun: false,
      concurrency: parseWholeNumber(`input ${Inputs.Concurrency}`, inputOrDefault(Inputs.Concurrency), ...CONCURRENCY_RANGE),
    },
    mode: parseMode(inputOrDefault(Inputs.Mode), env.GITHUB_EVENT_NAME ?? ''),
    cacheKeyPrefix: core.getInput(Inputs.CacheKeyPrefix) || defaultCacheKeyPrefix(batchFile),
    upload: parseBoolean(Inputs.Upload, inputOrDefault(Inputs.Upload)),
    retentionDays: optional(core.getInput(Inputs.RetentionDays), (text) => parseWholeNumber(`input ${Inputs.RetentionDays}`, text, 1, 90)),
    registryLogin: username ? { registry: core.getInput(Inputs.Registry) || undefined, username, password } : undefined,
    insecureRegistries: core.getMultilineInput(Inputs.InsecureRegistries),
    githubToken,
    run: {
      id: parseWholeNumber('GITHUB_RUN_ID', required(env, 'GITHUB_RUN_ID'), 1, Number.MAX_SAFE_INTEGER),
      attempt: parseWholeNumber('GITHUB_RUN_ATTEMPT', env.GITHUB_RUN_ATTEMPT ?? '1', 1, Number.MAX_SAFE_INTEGER),
      repository: required(env, 'GITHUB_REPOSITORY'),
      eventName: env.GITHUB_EVENT_NAME ?? '',
    },
  };
}

/** An input as given, or action.yml's default when it is empty (a step run outside a runner gives none). */
function inputOrDefault(name: Exclude<keyof typeof InputDefaults, typeof Inputs.GithubToken>): string {
  return core.getInput(name) || InputDefaults[name];
}

/** `auto` plans on pull requests (nothing is shipped from a PR) and serializes otherwise. */
function parseMode(value: string, eventName: string): Mode {
  if (value === 'serialize' || value === 'plan') return value;
  if (value === 'auto') return eventName === 'pull_request' || eventName === 'pull_request_target' ? 'plan' : 'serialize';
  throw new InputError(`input ${Inputs.Mode} ${JSON.stringify(value)}: use auto, serialize or plan`);
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
