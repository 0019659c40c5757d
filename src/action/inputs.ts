import * as core from '@actions/core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchSettings } from '../core/serialize/run.ts';
import { InputError } from '../core/input-error.ts';
import {
  checkTrackerFilename,
  parseCompressionLevel,
  parseCompressionSetting,
  parseDedupScope,
  parseFileSize,
  parseWholeNumber,
  parseTimeouts,
} from '../core/setting-values.ts';
import type { Timeouts } from '../core/registry/transport.ts';
import { CONCURRENCY_RANGE, SHARDS_RANGE } from '../core/defaults.ts';
import { InputDefaults, Inputs } from './constants.ts';

/**
 * `serialize` and `plan`: one job. The three jobs of a sharded run: `plan-shards` (the matrix), `serialize-shard`
 * (one matrix job), `record-shards` (the tracker, once).
 */
export type Mode = 'serialize' | 'plan' | 'plan-shards' | 'serialize-shard' | 'record-shards';

const MODES: readonly string[] = ['serialize', 'plan', 'plan-shards', 'serialize-shard', 'record-shards'] satisfies Mode[];
const SHARDED: readonly Mode[] = ['plan-shards', 'serialize-shard', 'record-shards'];

/** The run, from the runner's environment and the event payload. */
export interface RunContext {
  id: number;
  attempt: number;
  /** `owner/name` */
  repository: string;
  /** From GITHUB_REPOSITORY_ID or the event payload; undefined when neither says (then no artifact is trusted). */
  repositoryId: number | undefined;
  eventName: string;
  /** `refs/heads/main`, `refs/pull/7/merge`, ... */
  ref: string;
  /** The repository's default branch from the event payload; undefined when the payload does not say. */
  defaultBranch: string | undefined;
  /** GHES has no artifact service v4: uploads fail there. */
  onGhes: boolean;
}

/** Every input, read and validated once (actions/checkout's input-helper). */
export interface ActionSettings {
  batch: BatchSettings;
  mode: Mode;
  cacheKeyPrefix: string;
  upload: boolean;
  retentionDays: number | undefined;
  /** The tracker backup artifact's retention: the longest, so it outlives the tars it describes. */
  trackerRetentionDays: number;
  /** After a lost tracker: ship everything again, numbered above every number used before. */
  startOver: boolean;
  /** plan-shards: at most this many shards. */
  shards: number;
  /** serialize-shard: which shard of the plan, 1-based (the matrix's `shard`). */
  shard: number | undefined;
  /** docker/login-action's inputs: a password goes to `registry` and nowhere else. */
  registryLogin: { registry: string; username: string; password: string } | undefined;
  insecureRegistries: string[];
  timeouts: Timeouts;
  githubToken: string;
  run: RunContext;
}

/** A cache key prefix and artifact name part: no separator GitHub refuses in artifact names, nothing of a path. */
const PREFIX = /^[A-Za-z0-9._-]{1,100}$/;

export function readSettings(env: NodeJS.ProcessEnv = process.env): ActionSettings {
  // Masked first: nothing below may print them, but an error message might quote an input.
  const password = core.getInput(Inputs.Password);
  const githubToken = core.getInput(Inputs.GithubToken);
  if (password) core.setSecret(password);
  if (githubToken) core.setSecret(githubToken);

  const batchFile = inputOrDefault(Inputs.BatchFile);
  const runnerTemp = env.RUNNER_TEMP ?? required(env, 'RUNNER_TEMP');
  const compression = parseCompressionSetting(`input ${Inputs.Compression}`, inputOrDefault(Inputs.Compression));
  const level = core.getInput(Inputs.CompressionLevel);
  const prefix = core.getInput(Inputs.CacheKeyPrefix) || defaultCacheKeyPrefix(batchFile);
  if (!PREFIX.test(prefix)) {
    throw new InputError(`input ${Inputs.CacheKeyPrefix} ${JSON.stringify(prefix)}: use 1-100 of A-Z a-z 0-9 . _ -`);
  }
  const run = readRunContext(env);
  const upload = parseBoolean(Inputs.Upload, inputOrDefault(Inputs.Upload));
  if (upload && run.onGhes) {
    throw new InputError(
      `GitHub Enterprise Server (${env.GITHUB_SERVER_URL}) has no artifact service v4, so tars cannot be uploaded: ` +
        `set ${Inputs.Upload}: false and carry the tars from ${Inputs.SyncDirectory} yourself`,
    );
  }
  const mode = parseMode(inputOrDefault(Inputs.Mode), run);
  if (SHARDED.includes(mode) && !upload) {
    throw new InputError(
      `mode ${mode} needs ${Inputs.Upload}: true: each shard runs on a runner of its own, and its tars leave it only as artifacts`,
    );
  }
  const shardText = core.getInput(Inputs.Shard);
  if (mode === 'serialize-shard' && shardText === '') {
    throw new InputError(`mode serialize-shard needs input ${Inputs.Shard}: the matrix's shard (${Inputs.Shard}: \${{ matrix.shard }})`);
  }
  const keepTars = parseBoolean(Inputs.KeepTars, inputOrDefault(Inputs.KeepTars)) || !upload;
  return {
    batch: {
      batchFile,
      // One directory per prefix: two batch lists in one job never share a tracker.
      syncDir: core.getInput(Inputs.SyncDirectory) || join(runnerTemp, 'batch-serialize', prefix),
      trackerFilename: checkTrackerFilename(`input ${Inputs.TrackerFilename}`, inputOrDefault(Inputs.TrackerFilename)),
      compression,
      compressionLevel: level ? parseCompressionLevel(`input ${Inputs.CompressionLevel}`, compression, level) : undefined,
      manifestJson: false,
      dedupScope: parseDedupScope(`input ${Inputs.DedupScope}`, inputOrDefault(Inputs.DedupScope)),
      dryRun: false,
      concurrency: parseWholeNumber(`input ${Inputs.Concurrency}`, inputOrDefault(Inputs.Concurrency), ...CONCURRENCY_RANGE),
      maxFileSize: optional(core.getInput(Inputs.MaxFileSize), (text) => parseFileSize(`input ${Inputs.MaxFileSize}`, text)),
      // Deleted once uploaded and recorded, unless a later step needs the files (or nothing uploads them).
      keepTars,
    },
    mode,
    cacheKeyPrefix: prefix,
    upload,
    retentionDays: optional(core.getInput(Inputs.RetentionDays), (text) => parseWholeNumber(`input ${Inputs.RetentionDays}`, text, 1, 90)),
    trackerRetentionDays: parseWholeNumber(`input ${Inputs.TrackerRetentionDays}`, inputOrDefault(Inputs.TrackerRetentionDays), 1, 90),
    startOver: parseBoolean(Inputs.StartOver, inputOrDefault(Inputs.StartOver)),
    shards: parseWholeNumber(`input ${Inputs.Shards}`, inputOrDefault(Inputs.Shards), ...SHARDS_RANGE),
    shard: optional(shardText, (text) => parseWholeNumber(`input ${Inputs.Shard}`, text, ...SHARDS_RANGE)),
    registryLogin: readRegistryLogin(password),
    insecureRegistries: core.getMultilineInput(Inputs.InsecureRegistries),
    timeouts: parseTimeouts((wait) => `input ${wait}-timeout`, {
      connect: inputOrDefault(Inputs.ConnectTimeout),
      response: inputOrDefault(Inputs.ResponseTimeout),
      idle: inputOrDefault(Inputs.IdleTimeout),
    }),
    githubToken,
    run,
  };
}

/** username and password go to `registry` only: the batch list (editable in a pull request) never chooses the host. */
function readRegistryLogin(password: string): ActionSettings['registryLogin'] {
  const registry = core.getInput(Inputs.Registry);
  const username = core.getInput(Inputs.Username);
  if (!password && !username) return undefined;
  if (!password || !username) throw new InputError(`inputs ${Inputs.Username} and ${Inputs.Password} go together: give both or neither`);
  if (!registry) {
    throw new InputError(`input ${Inputs.Registry} is needed with ${Inputs.Password}: the one host the password may be sent to`);
  }
  return { registry, username, password };
}

function readRunContext(env: NodeJS.ProcessEnv): RunContext {
  const event = readEventPayload(env.GITHUB_EVENT_PATH);
  const idText = env.GITHUB_REPOSITORY_ID || (event.repository?.id === undefined ? '' : String(event.repository.id));
  const server = new URL(env.GITHUB_SERVER_URL || 'https://github.com');
  return {
    id: parseWholeNumber('GITHUB_RUN_ID', required(env, 'GITHUB_RUN_ID'), 1, Number.MAX_SAFE_INTEGER),
    attempt: parseWholeNumber('GITHUB_RUN_ATTEMPT', env.GITHUB_RUN_ATTEMPT ?? '1', 1, Number.MAX_SAFE_INTEGER),
    repository: required(env, 'GITHUB_REPOSITORY'),
    repositoryId: idText === '' ? undefined : parseWholeNumber('GITHUB_REPOSITORY_ID', idText, 1, Number.MAX_SAFE_INTEGER),
    eventName: env.GITHUB_EVENT_NAME ?? '',
    ref: env.GITHUB_REF ?? '',
    defaultBranch: typeof event.repository?.default_branch === 'string' ? event.repository.default_branch : undefined,
    onGhes: server.hostname !== 'github.com' && !server.hostname.endsWith('.ghe.com'),
  };
}

interface EventPayload {
  repository?: { id?: number; default_branch?: unknown };
}

function readEventPayload(path: string | undefined): EventPayload {
  if (!path) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as EventPayload;
  } catch (error) {
    throw new InputError(`GITHUB_EVENT_PATH ${path}: cannot read the event payload: ${(error as Error).message}`);
  }
}

/** An input as given, or action.yml's default when it is empty (a step run outside a runner gives none). */
function inputOrDefault(name: Exclude<keyof typeof InputDefaults, typeof Inputs.GithubToken>): string {
  return core.getInput(name) || InputDefaults[name];
}

/**
 * `auto` serializes on the default branch only (a push or schedule there) and plans everywhere else: the cache is
 * scoped by branch, so a tracker saved on another branch is one the default branch never sees.
 */
function parseMode(value: string, run: RunContext): Mode {
  if (MODES.includes(value)) return value as Mode;
  if (value !== 'auto') {
    throw new InputError(
      `input ${Inputs.Mode} ${JSON.stringify(value)}: use auto, serialize, plan, plan-shards, serialize-shard or record-shards`,
    );
  }
  const pullRequest = run.eventName === 'pull_request' || run.eventName === 'pull_request_target';
  return !pullRequest && run.defaultBranch !== undefined && run.ref === `refs/heads/${run.defaultBranch}` ? 'serialize' : 'plan';
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
