import { Defaults, SHARDS_RANGE } from '../core/defaults.ts';

/**
 * The names action.yml gives its inputs and outputs (actions/cache's constants.ts): src/action reads and sets
 * them through these, never by a bare string, and a unit test holds both lists equal to action.yml's.
 */
export const Inputs = {
  BatchFile: 'batch-file',
  SyncDirectory: 'sync-directory',
  Compression: 'compression',
  CompressionLevel: 'compression-level',
  MaxFileSize: 'max-file-size',
  TrackerFilename: 'tracker-filename',
  DedupScope: 'dedup-scope',
  Mode: 'mode',
  CacheKeyPrefix: 'cache-key-prefix',
  Upload: 'upload',
  KeepTars: 'keep-tars',
  RetentionDays: 'retention-days',
  Concurrency: 'concurrency',
  TrackerRetentionDays: 'tracker-retention-days',
  StartOver: 'start-over',
  Shards: 'shards',
  Shard: 'shard',
  Registry: 'registry',
  Username: 'username',
  Password: 'password',
  InsecureRegistries: 'insecure-registries',
  ConnectTimeout: 'connect-timeout',
  ResponseTimeout: 'response-timeout',
  IdleTimeout: 'idle-timeout',
  GithubToken: 'github-token',
} as const;

export type Input = (typeof Inputs)[keyof typeof Inputs];

export const Outputs = {
  Tars: 'tars',
  Bytes: 'bytes',
  ArtifactIds: 'artifact-ids',
  Shipped: 'shipped',
  Skipped: 'skipped',
  Plan: 'plan',
  Matrix: 'matrix',
  ShardCount: 'shard-count',
  TrackerSource: 'tracker-source',
  RestoredKey: 'restored-key',
  SavedKey: 'saved-key',
  CacheHit: 'cache-hit',
} as const;

export type Output = (typeof Outputs)[keyof typeof Outputs];

/**
 * action.yml's `default:` of every input that has one (a unit test holds the two equal). Inputs that default
 * to '' are computed when read (sync-directory, cache-key-prefix, ...); the runner fills in github-token's.
 */
export const InputDefaults = {
  [Inputs.BatchFile]: 'batch.csv',
  [Inputs.Compression]: Defaults.compression,
  [Inputs.TrackerFilename]: Defaults.trackerFilename,
  [Inputs.DedupScope]: Defaults.dedupScope,
  [Inputs.Mode]: 'auto',
  [Inputs.Upload]: 'true',
  [Inputs.KeepTars]: 'false',
  [Inputs.TrackerRetentionDays]: '90',
  [Inputs.StartOver]: 'false',
  [Inputs.Shards]: String(SHARDS_RANGE[1]),
  [Inputs.Concurrency]: String(Defaults.concurrency),
  [Inputs.ConnectTimeout]: String(Defaults.connectTimeout),
  [Inputs.ResponseTimeout]: String(Defaults.responseTimeout),
  [Inputs.IdleTimeout]: String(Defaults.idleTimeout),
  [Inputs.GithubToken]: '${{ github.token }}',
} as const satisfies Partial<Record<Input, string>>;
