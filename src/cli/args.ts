import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { BatchSettings } from '../core/serialize/run.ts';
import { parseDestination } from '../core/far-side/destination.ts';
import { InputError } from '../core/input-error.ts';
import {
  checkTrackerFilename,
  parseCompressionLevel,
  parseCompressionSetting,
  parseDedupScope,
  parseFileSize,
  parseTimeouts,
  parseWholeNumber,
} from '../core/setting-values.ts';
import type { Timeouts } from '../core/registry/transport.ts';
import { CONCURRENCY_RANGE, Defaults, SHARDS_RANGE } from '../core/defaults.ts';
import type { VerifyOptions } from '../core/far-side/verify.ts';
import type { Destination } from '../core/far-side/destination.ts';
import type { DedupScope } from '../core/sync-dir/dedup-scope.ts';
import { checkApiUrl, DEFAULT_API_URL } from '../github/api-url.ts';

/** The options of REGISTRY_OPTIONS, as serialize's and deserialize's usage list them. */
const REGISTRY_HELP = `  --insecure-registry HOST       allow plain HTTP to HOST (repeatable; loopback hosts always may)
  --connect-timeout SECONDS      wait this long for a registry connection (default ${Defaults.connectTimeout})
  --response-timeout SECONDS     wait this long for a response to begin (default ${Defaults.responseTimeout})
  --idle-timeout SECONDS         wait this long while a response's bytes stop coming (default ${Defaults.idleTimeout})`;

export const USAGE = `Usage: batch-serialize [serialize] BATCH-LIST SYNC-DIRECTORY [options]
       batch-serialize plan BATCH-LIST SYNC-DIRECTORY --shards N  (see plan --help)
       batch-serialize serialize --shard K --plan FILE DIRECTORY  (see plan --help)
       batch-serialize record SYNC-DIRECTORY --plan FILE SHARD-RECORD... (see plan --help)
       batch-serialize verify SYNC-DIRECTORY [options]           (see verify --help)
       batch-serialize deserialize SYNC-DIRECTORY DEST [options] (see deserialize --help)
       batch-serialize collect SYNC-DIRECTORY --prefix PREFIX    (see collect --help)

Serializes the artifacts of BATCH-LIST (CSV: name,artifact) into numbered OCI-layout tars in
SYNC-DIRECTORY, holding only the blobs that no earlier tar holds, and records them in the tracker.
Artifacts are registry references (host/repo:tag, repo@sha256:...) or ocidir://PATH:TAG.

Options:
  --compression none|gzip|zstd   compress the whole tar (default ${Defaults.compression})
  --compression-level N          gzip 0-9, zstd 1-22
  --max-file-size SIZE           write a tar larger than SIZE as parts NNNNNN-NAME.tar.part-001, ... of SIZE
                                 bytes each (4.7G, 4480MiB, 650MB; at least 64KiB); join them with cat
  --tracker-filename NAME        tracker file in SYNC-DIRECTORY (default ${Defaults.trackerFilename})
  --manifest-json                add a docker-load style manifest.json to each tar
  --dedup-scope name|all         skip blobs held by earlier tars of the same name or of any name (default ${Defaults.dedupScope})
  --dry-run                      plan only: fetch manifests, no layer blobs, write nothing
  --concurrency N                blobs fetched at once (default ${Defaults.concurrency})
${REGISTRY_HELP}
  --json                         print the result as JSON on stdout
  -h, --help                     show this help
  -v, --version                  show the version

Credentials come from the Docker config (DOCKER_CONFIG or ~/.docker/config.json), as after docker login.`;

export const PLAN_USAGE = `Usage: batch-serialize plan BATCH-LIST SYNC-DIRECTORY --shards N [options]
       batch-serialize serialize --shard K --plan FILE DIRECTORY [--concurrency N] [REGISTRY OPTIONS] [--json]
       batch-serialize record SYNC-DIRECTORY --plan FILE SHARD-RECORD... [--json]

A run split over several machines. plan resolves every artifact of BATCH-LIST against the tracker of
SYNC-DIRECTORY (manifests only, no layer), splits what would ship into at most N shards (one per name when
there are no more names, else groups balanced by bytes; one with --dedup-scope all), numbers every tar and
writes SYNC-DIRECTORY/batch-serialize/plan-FIRST-LAST.json. Its numbers are never used again.

serialize --shard K writes shard K's tars, with the plan's settings, numbers and digests, into DIRECTORY (a
directory of its own, on any machine that reaches the registry) and its record
DIRECTORY/batch-serialize/shard-FIRST-LAST.json. Run again after a failure, it continues.

record merges the shard records into the tracker the plan was made from, moving each shard's tars into
SYNC-DIRECTORY; a tracker that changed since the plan is never merged over. A shard without a record
leaves its numbers unused (a gap) and its names ship again next time.

Options of plan: --shards N (${SHARDS_RANGE.join('-')}, required), --json (the shards on stdout) and the options of
serialize but --dry-run (batch-serialize --help). REGISTRY OPTIONS of serialize --shard: --insecure-registry,
--connect-timeout, --response-timeout, --idle-timeout, as serialize takes them.`;

export const VERIFY_USAGE = `Usage: batch-serialize verify SYNC-DIRECTORY [options]

Checks the tars of SYNC-DIRECTORY offline, in number order: each .sha256 sidecar, each tar stream, every
blob against its name, index.json, and each artifact's graph complete once the earlier tars of the same
name are counted. Reports gaps in the numbering and the blobs a tar needs that no tar here holds, with the
tar that should have held them. Exits 0 only when everything checks out.

Options:
  --dedup-scope name|all         earlier tars of the same name or of any name count
                                 (default: the scope each tar records, else ${Defaults.dedupScope})
  --tracker-filename NAME        the near side's tracker, when it travelled (default ${Defaults.trackerFilename})
  --successful-syncs FILE        the far side's record of loaded tars (default SYNC-DIRECTORY/successful-syncs.csv)
  --json                         print the report as JSON on stdout
  -h, --help                     show this help
  -v, --version                  show the version`;

export const DESERIALIZE_USAGE = `Usage: batch-serialize deserialize SYNC-DIRECTORY DEST [options]

Loads the tars of SYNC-DIRECTORY in number order into the registry DEST (HOST[:PORT][/PATH]): each
NNNNNN-NAME.tar into repository DEST/NAME, tagged with its artifact's tag. A tar is checked whole before
anything of it is pushed; blobs the destination holds are skipped; each finished tar is recorded in
SYNC-DIRECTORY/successful-syncs.csv at once, so a rerun resumes where a failed run stopped.

Options:
  --dedup-scope name|all         blobs a tar leaves out must be in DEST/NAME or in any DEST/<name>
                                 (default: the scope each tar records, else ${Defaults.dedupScope})
  --scatter                      also push each gathered image to its source path under DEST
                                 (docker.io/grafana/grafana:10.4.1 -> DEST/grafana/grafana:10.4.1)
  --scatter-map FILE             SOURCE-PREFIX=DEST-PREFIX lines: the longest matching prefix is replaced
  --successful-syncs FILE        the record of loaded tars (default SYNC-DIRECTORY/successful-syncs.csv; elsewhere
                                 when SYNC-DIRECTORY is on read-only media)
${REGISTRY_HELP}
  --json                         print the result as JSON on stdout
  -h, --help                     show this help
  -v, --version                  show the version

Credentials come from the Docker config (DOCKER_CONFIG or ~/.docker/config.json), as after docker login.`;

export const COLLECT_USAGE = `Usage: batch-serialize collect SYNC-DIRECTORY --prefix PREFIX [options]

The step after the nightly, on a machine with a GitHub token: downloads every tar the Action uploaded as a
workflow artifact PREFIX-NNNNNN-NAME.tar[.gz|.zst], from any run, that SYNC-DIRECTORY does not hold yet, checks
it against its .sha256 sidecar and only then puts it in place, ready to carry. Tars already here are checked
against their sidecars, not downloaded again; a file here that differs is named, never replaced. Exits 0 only
when every tar of the prefix is here and checked: an expired artifact whose tar is not here is a failure.
The newest tracker artifact PREFIX-tracker of the default branch comes too (with its ledger), so that verify
on the far side can tell numbers never shipped from missing tars: it replaces the tracker here only when it
continues it (the same rows, then more); one that records less is kept, one that differs is a problem.

Options:
  --prefix PREFIX                the Action's cache-key-prefix (required; the Action's default is
                                 batch-serialize-<batch file, / as _>, e.g. batch-serialize-batch.csv)
  --repo OWNER/NAME              the repository (default $GITHUB_REPOSITORY)
  --api-url URL                  GitHub's REST API (default $GITHUB_API_URL or ${DEFAULT_API_URL})
  --tracker-filename NAME        the Action's tracker-filename (default ${Defaults.trackerFilename})
  --json                         print the result as JSON on stdout
  -h, --help                     show this help
  -v, --version                  show the version

The token is read from GITHUB_TOKEN or GH_TOKEN in the environment, never from the command line; it needs
read access to the repository's Actions (a fine-grained token's "Actions: read", or a classic token's repo).`;

export class UsageError extends Error {
  readonly usage: string;
  /** Said in one line, with a pointer to --help instead of the whole usage (an option misspelt). */
  readonly brief: boolean;

  constructor(message: string, usage: string = USAGE, brief = false) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
    this.brief = brief;
  }
}

/** How a command reaches registries (REGISTRY_OPTIONS). */
export interface RegistryAccess {
  insecureRegistries: string[];
  timeouts: Timeouts;
}

export interface DeserializeCommand extends RegistryAccess {
  kind: 'deserialize';
  dir: string;
  destination: Destination;
  /** Overrides the scope each tar records; undefined: each tar's own. */
  dedupScope: DedupScope | undefined;
  scatter: boolean;
  scatterMap: string | undefined;
  /** successful-syncs.csv elsewhere than in SYNC-DIRECTORY (read-only media). */
  recordPath: string | undefined;
  json: boolean;
}

/** The token is not part of it: run.ts reads it from the environment (collectToken) when it needs it. */
export interface CollectCommand {
  kind: 'collect';
  dir: string;
  prefix: string;
  repository: string;
  trackerFilename: string;
  apiUrl: string;
  json: boolean;
}

export interface SerializeCommand extends RegistryAccess {
  kind: 'serialize';
  settings: BatchSettings;
  json: boolean;
}

export interface PlanCommand extends Omit<SerializeCommand, 'kind'> {
  kind: 'plan';
  shards: number;
}

/** A shard's settings are the plan's: only how it reaches the registry is its own. */
export interface ShardCommand extends RegistryAccess {
  kind: 'shard';
  planFile: string;
  shard: number;
  dir: string;
  concurrency: number;
  json: boolean;
}

export interface RecordCommand {
  kind: 'record';
  dir: string;
  planFile: string;
  recordFiles: string[];
  json: boolean;
}

export type Command =
  | { kind: 'help'; usage: string }
  | { kind: 'version' }
  | SerializeCommand
  | PlanCommand
  | ShardCommand
  | RecordCommand
  | { kind: 'verify'; options: VerifyOptions; json: boolean }
  | DeserializeCommand
  | CollectCommand;

/**
 * `verify` and `deserialize` as the first word choose the far side, `collect` the step between, `plan`, `serialize`
 * and `record` a sharded run; anything else is a batch list (`./verify` is one). `env` gives collect its defaults
 * (GITHUB_REPOSITORY, GITHUB_API_URL).
 */
export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv = process.env): Command {
  const [first, ...rest] = argv;
  if (first === 'plan') return parsePlan(rest);
  if (first === 'serialize') return rest.some((arg) => /^--(shard|plan)(=|$)/.test(arg)) ? parseShard(rest) : parseSerialize(rest);
  if (first === 'record') return parseRecord(rest);
  if (first === 'verify') return parseVerify(rest);
  if (first === 'deserialize') return parseDeserialize(rest);
  if (first === 'collect') return parseCollect(rest, env);
  return parseSerialize(argv);
}

/** The Action's cache-key-prefix grammar (src/action/inputs.ts). */
const PREFIX = /^[A-Za-z0-9._-]{1,100}$/;
const REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

function parseCollect(argv: string[], env: NodeJS.ProcessEnv): Command {
  const { values, positionals } = parse(argv, COLLECT_USAGE, {
    prefix: { type: 'string' },
    repo: { type: 'string' },
    'api-url': { type: 'string' },
    'tracker-filename': { type: 'string', default: Defaults.trackerFilename },
    // Declared so that `--token X` is refused by name, not as an unknown option someone may retry differently.
    token: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
    version: { type: 'boolean', short: 'v', default: false },
  });
  if (values.help) return { kind: 'help', usage: COLLECT_USAGE };
  if (values.version) return { kind: 'version' };
  if (values.token !== undefined) {
    throw new UsageError(
      '--token: a token never goes on the command line (other users see it): set GITHUB_TOKEN or GH_TOKEN',
      COLLECT_USAGE,
    );
  }
  if (positionals.length !== 1)
    throw new UsageError(`collect expects SYNC-DIRECTORY, got ${positionals.length} argument(s)`, COLLECT_USAGE);
  const prefix = values.prefix;
  if (prefix === undefined) throw new UsageError("collect needs --prefix PREFIX (the Action's cache-key-prefix)", COLLECT_USAGE);
  if (!PREFIX.test(prefix)) throw new UsageError(`--prefix ${JSON.stringify(prefix)}: use 1-100 of A-Z a-z 0-9 . _ -`, COLLECT_USAGE);
  const repository = values.repo ?? env.GITHUB_REPOSITORY;
  if (repository === undefined || repository === '') {
    throw new UsageError('collect needs --repo OWNER/NAME (GITHUB_REPOSITORY is not set)', COLLECT_USAGE);
  }
  if (!REPOSITORY.test(repository)) throw new UsageError(`--repo ${JSON.stringify(repository)}: expected OWNER/NAME`, COLLECT_USAGE);
  collectToken(env);
  return checked(COLLECT_USAGE, () => ({
    kind: 'collect',
    dir: positionals[0] as string,
    prefix,
    repository,
    trackerFilename: checkTrackerFilename('--tracker-filename', values['tracker-filename']),
    apiUrl: checkApiUrl(values['api-url'] ?? (env.GITHUB_API_URL || DEFAULT_API_URL)).href.replace(/\/+$/, ''),
    json: values.json,
  }));
}

/** GITHUB_TOKEN, else GH_TOKEN; neither is bad usage. */
export function collectToken(env: NodeJS.ProcessEnv): string {
  const token = (env.GITHUB_TOKEN || env.GH_TOKEN || '').trim();
  if (token === '')
    throw new UsageError('collect needs a GitHub token in GITHUB_TOKEN or GH_TOKEN (never on the command line)', COLLECT_USAGE);
  return token;
}

function parseVerify(argv: string[]): Command {
  const { values, positionals } = parse(argv, VERIFY_USAGE, {
    'dedup-scope': { type: 'string' },
    'tracker-filename': { type: 'string', default: Defaults.trackerFilename },
    'successful-syncs': { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
    version: { type: 'boolean', short: 'v', default: false },
  });
  if (values.help) return { kind: 'help', usage: VERIFY_USAGE };
  if (values.version) return { kind: 'version' };
  if (positionals.length !== 1) throw new UsageError(`verify expects SYNC-DIRECTORY, got ${positionals.length} argument(s)`, VERIFY_USAGE);
  return checked(VERIFY_USAGE, () => ({
    kind: 'verify',
    json: values.json,
    options: {
      dir: positionals[0] as string,
      dedupScope: farSideScope(values['dedup-scope']),
      trackerFilename: checkTrackerFilename('--tracker-filename', values['tracker-filename']),
      ...(values['successful-syncs'] === undefined ? {} : { recordPath: values['successful-syncs'] }),
    },
  }));
}

function parseDeserialize(argv: string[]): Command {
  const { values, positionals } = parse(argv, DESERIALIZE_USAGE, {
    'dedup-scope': { type: 'string' },
    scatter: { type: 'boolean', default: false },
    'scatter-map': { type: 'string' },
    'successful-syncs': { type: 'string' },
    ...REGISTRY_OPTIONS,
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
    version: { type: 'boolean', short: 'v', default: false },
  });
  if (values.help) return { kind: 'help', usage: DESERIALIZE_USAGE };
  if (values.version) return { kind: 'version' };
  if (positionals.length !== 2)
    throw new UsageError(`deserialize expects SYNC-DIRECTORY and DEST, got ${positionals.length} argument(s)`, DESERIALIZE_USAGE);
  const scatterMap = values['scatter-map'];
  if (scatterMap !== undefined && values.scatter !== true) throw new UsageError('--scatter-map needs --scatter', DESERIALIZE_USAGE);
  return checked(DESERIALIZE_USAGE, () => ({
    kind: 'deserialize',
    dir: positionals[0] as string,
    destination: parseDestination(positionals[1] as string),
    dedupScope: farSideScope(values['dedup-scope']),
    scatter: values.scatter,
    scatterMap,
    recordPath: values['successful-syncs'],
    ...registryAccess(values),
    json: values.json,
  }));
}

/** On the far side --dedup-scope overrides what each tar records, on purpose; not given, each tar's own holds. */
function farSideScope(value: string | undefined): DedupScope | undefined {
  return value === undefined ? undefined : parseDedupScope('--dedup-scope', value);
}

function parse<const T extends ParseArgsOptionsConfig>(argv: string[], usage: string, options: T) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError((error as Error).message, usage);
    // Node's text suggests `-- "--opt"` for a positional; a user who misspelt an option wants the right one.
    const given = /'(-[^']*)'/.exec((error as Error).message)?.[1] ?? '?';
    const known = Object.entries(options).flatMap(([name, option]) => [`--${name}`, ...(option.short ? [`-${option.short}`] : [])]);
    const guess = closest(given.replace(/=.*$/, ''), known);
    throw new UsageError(`unknown option ${given}${guess ? `: did you mean ${guess}?` : ''}`, usage, true);
  }
}

/** The known option nearest to a misspelt one, if it is near enough to be the one meant. */
function closest(given: string, known: readonly string[]): string | undefined {
  let best: { option: string; distance: number } | undefined;
  for (const option of known) {
    const distance = editDistance(given, option);
    if (distance <= Math.max(2, Math.floor(option.length / 4)) && (!best || distance < best.distance)) best = { option, distance };
  }
  return best?.option;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** A setting's InputError is bad usage. */
function checked(usage: string, build: () => Command): Command {
  try {
    return build();
  } catch (error) {
    if (error instanceof InputError) throw new UsageError(error.message, usage);
    throw error;
  }
}

/** How serialize, plan, a shard and deserialize reach registries. */
const REGISTRY_OPTIONS = {
  'insecure-registry': { type: 'string', multiple: true, default: [] },
  'connect-timeout': { type: 'string', default: String(Defaults.connectTimeout) },
  'response-timeout': { type: 'string', default: String(Defaults.responseTimeout) },
  'idle-timeout': { type: 'string', default: String(Defaults.idleTimeout) },
} satisfies ParseArgsOptionsConfig;

function registryAccess(values: ReturnType<typeof parse<typeof REGISTRY_OPTIONS>>['values']): RegistryAccess {
  const timeouts = parseTimeouts((wait) => `--${wait}-timeout`, {
    connect: values['connect-timeout'],
    response: values['response-timeout'],
    idle: values['idle-timeout'],
  });
  return { insecureRegistries: values['insecure-registry'], timeouts };
}

const SERIALIZE_OPTIONS = {
  compression: { type: 'string', default: Defaults.compression },
  'compression-level': { type: 'string' },
  'max-file-size': { type: 'string' },
  'tracker-filename': { type: 'string', default: Defaults.trackerFilename },
  'manifest-json': { type: 'boolean', default: false },
  'dedup-scope': { type: 'string', default: Defaults.dedupScope },
  concurrency: { type: 'string', default: String(Defaults.concurrency) },
  ...REGISTRY_OPTIONS,
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', short: 'v', default: false },
} satisfies ParseArgsOptionsConfig;

type SerializeValues = ReturnType<typeof parse<typeof SERIALIZE_OPTIONS>>['values'];

function parseSerialize(argv: string[]): Command {
  const { values, positionals } = parse(argv, USAGE, { ...SERIALIZE_OPTIONS, 'dry-run': { type: 'boolean', default: false } });
  if (values.help) return { kind: 'help', usage: USAGE };
  if (values.version) return { kind: 'version' };
  if (positionals.length !== 2) {
    throw new UsageError(`expected BATCH-LIST and SYNC-DIRECTORY, got ${positionals.length} argument(s)`, USAGE);
  }
  return checked(USAGE, () => ({ kind: 'serialize', ...batchCommand(values, positionals, values['dry-run']) }));
}

function parsePlan(argv: string[]): Command {
  const { values, positionals } = parse(argv, PLAN_USAGE, { ...SERIALIZE_OPTIONS, shards: { type: 'string' } });
  if (values.help) return { kind: 'help', usage: PLAN_USAGE };
  if (values.version) return { kind: 'version' };
  if (positionals.length !== 2) {
    throw new UsageError(`plan expects BATCH-LIST and SYNC-DIRECTORY, got ${positionals.length} argument(s)`, PLAN_USAGE);
  }
  const shards = values.shards;
  if (shards === undefined) throw new UsageError(`plan needs --shards N (${SHARDS_RANGE.join('-')}): at most how many shards`, PLAN_USAGE);
  return checked(PLAN_USAGE, () => ({
    kind: 'plan',
    shards: parseWholeNumber('--shards', shards, ...SHARDS_RANGE),
    ...batchCommand(values, positionals, false),
  }));
}

/** The options a shard takes from its plan: given with --shard they are refused by name. */
const PLAN_SETTINGS = ['compression', 'compression-level', 'max-file-size', 'tracker-filename', 'manifest-json', 'dedup-scope', 'dry-run'];

function parseShard(argv: string[]): Command {
  const fromPlan = argv.map((arg) => /^--([a-z-]+)/.exec(arg)?.[1]).find((name) => name !== undefined && PLAN_SETTINGS.includes(name));
  if (fromPlan !== undefined) {
    throw new UsageError(`--${fromPlan}: a shard writes with its plan's settings (given to plan)`, PLAN_USAGE);
  }
  const { values, positionals } = parse(argv, PLAN_USAGE, {
    shard: { type: 'string' },
    plan: { type: 'string' },
    concurrency: SERIALIZE_OPTIONS.concurrency,
    ...REGISTRY_OPTIONS,
    json: SERIALIZE_OPTIONS.json,
    help: SERIALIZE_OPTIONS.help,
    version: SERIALIZE_OPTIONS.version,
  });
  if (values.help) return { kind: 'help', usage: PLAN_USAGE };
  if (values.version) return { kind: 'version' };
  const { shard, plan } = values;
  if (shard === undefined || plan === undefined) throw new UsageError('serialize needs --shard K and --plan FILE together', PLAN_USAGE);
  if (positionals.length !== 1) {
    throw new UsageError(`serialize --shard expects DIRECTORY (the shard's own), got ${positionals.length} argument(s)`, PLAN_USAGE);
  }
  return checked(PLAN_USAGE, () => ({
    kind: 'shard',
    planFile: plan,
    shard: parseWholeNumber('--shard', shard, ...SHARDS_RANGE),
    dir: positionals[0] as string,
    concurrency: parseWholeNumber('--concurrency', values.concurrency, ...CONCURRENCY_RANGE),
    ...registryAccess(values),
    json: values.json,
  }));
}

function parseRecord(argv: string[]): Command {
  const { values, positionals } = parse(argv, PLAN_USAGE, {
    plan: { type: 'string' },
    json: SERIALIZE_OPTIONS.json,
    help: SERIALIZE_OPTIONS.help,
    version: SERIALIZE_OPTIONS.version,
  });
  if (values.help) return { kind: 'help', usage: PLAN_USAGE };
  if (values.version) return { kind: 'version' };
  if (values.plan === undefined) throw new UsageError('record needs --plan FILE (the plan the shards wrote)', PLAN_USAGE);
  const [dir, ...recordFiles] = positionals;
  if (dir === undefined) throw new UsageError('record expects SYNC-DIRECTORY and the SHARD-RECORD files', PLAN_USAGE);
  return { kind: 'record', dir, planFile: values.plan, recordFiles, json: values.json };
}

/** BATCH-LIST SYNC-DIRECTORY and the serialize options, as serialize and plan take them. */
function batchCommand(values: SerializeValues, positionals: string[], dryRun: boolean): Omit<SerializeCommand, 'kind'> {
  const [batchFile = '', syncDir = ''] = positionals;
  const compression = parseCompressionSetting('--compression', values.compression);
  const level = values['compression-level'];
  const maxFileSize = values['max-file-size'];
  return {
    json: values.json,
    ...registryAccess(values),
    settings: {
      batchFile,
      syncDir,
      trackerFilename: checkTrackerFilename('--tracker-filename', values['tracker-filename']),
      compression,
      compressionLevel: level === undefined ? undefined : parseCompressionLevel('--compression-level', compression, level),
      manifestJson: values['manifest-json'],
      dedupScope: parseDedupScope('--dedup-scope', values['dedup-scope']),
      dryRun,
      concurrency: parseWholeNumber('--concurrency', values.concurrency, ...CONCURRENCY_RANGE),
      maxFileSize: maxFileSize === undefined ? undefined : parseFileSize('--max-file-size', maxFileSize),
    },
  };
}
