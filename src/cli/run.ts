import { formatBytes } from '../core/format.ts';
import { LOG_LINE_INTERVAL_MS, throttle } from '../core/throttle.ts';
import { TOOL_VERSION } from '../core/version.ts';
import {
  collectToken,
  parseCommandLine,
  UsageError,
  type CollectCommand,
  type Command,
  type DeserializeCommand,
  type PlanCommand,
  type RecordCommand,
  type RegistryAccess,
  type SerializeCommand,
  type ShardCommand,
} from './args.ts';
import type { LoadedTar } from '../core/far-side/deserialize.ts';
import type { WrittenTar } from '../core/serialize/write-tars.ts';
import {
  formatCollectResult,
  formatDeserializeResult,
  formatRecordResult,
  formatReport,
  formatShardPlan,
  formatShardResult,
  formatVerifyReport,
} from './report.ts';

// Each command loads only the engine it runs: verify, offline, starts without the registry client. The
// webpackMode comments keep the bundle (dist/cli) one file, with no module copied into several chunks.

/** The CLI: returns the exit code (0 done, 1 failed, 2 bad usage); every error is reported here, once. */
export async function run(argv: string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // `batch-serialize verify --help` for a subcommand's usage, `batch-serialize --help` for the main one.
    const words = (error.usage.split('\n')[0] ?? '').replace(/^Usage: /, '').split(' ');
    const help = [...words.slice(0, /^[a-z]+$/.test(words[1] ?? '') ? 2 : 1), '--help'].join(' ');
    process.stderr.write(`batch-serialize: ${error.message}\n${error.brief ? `(${help} lists the options)\n` : `\n${error.usage}\n`}`);
    return 2;
  }
  switch (command.kind) {
    case 'help':
      process.stdout.write(`${command.usage}\n`);
      return 0;
    case 'version':
      process.stdout.write(`${TOOL_VERSION}\n`);
      return 0;
    case 'serialize':
      return reportingErrors(() => serialize(command));
    case 'plan':
      return reportingErrors(() => plan(command));
    case 'shard':
      return reportingErrors(() => shard(command));
    case 'record':
      return reportingErrors(() => record(command));
    case 'verify':
      return reportingErrors(() => verify(command));
    case 'deserialize':
      return reportingErrors(() => deserialize(command));
    case 'collect':
      return reportingErrors(() => collect(command));
  }
}

async function reportingErrors(action: () => Promise<number>): Promise<number> {
  try {
    return await action();
  } catch (error) {
    process.stderr.write(`batch-serialize: error: ${(error as Error).message}\n`);
    return 1;
  }
}

/** The notes and warnings of a near-side run, on stderr. */
const sayings = {
  note: (message: string) => void process.stderr.write(`batch-serialize: note: ${message}\n`),
  warning: (message: string) => void process.stderr.write(`batch-serialize: warning: ${message}\n`),
};

/** What serialize, plan and a shard read registries and layouts through, retries reported among the progress lines. */
async function nearSide(access: RegistryAccess) {
  const [{ RegistryAndLayoutStorages }, { progressReporter }] = await Promise.all([
    import(/* webpackMode: "eager" */ '../core/serialize/storages.ts'),
    import(/* webpackMode: "eager" */ '../core/serialize/progress.ts'),
  ]);
  const progress = progressReporter(process.stderr);
  const storages = new RegistryAndLayoutStorages({
    insecureRegistries: access.insecureRegistries,
    ...access.timeouts,
    retry: { onRetry: progress.retrying },
  });
  return { progress, storages };
}

async function serialize(command: SerializeCommand): Promise<number> {
  const [{ runBatch }, { resultJson }, { progress, storages }] = await Promise.all([
    import(/* webpackMode: "eager" */ '../core/serialize/run.ts'),
    import(/* webpackMode: "eager" */ '../core/serialize/result-json.ts'),
    nearSide(command),
  ]);
  const written: WrittenTar[] = [];
  try {
    const result = await runBatch(command.settings, storages, {
      ...progress,
      ...sayings,
      tarRecorded(tar) {
        progress.tarRecorded(tar);
        written.push(tar);
      },
    });
    process.stdout.write(
      command.json
        ? `${JSON.stringify(resultJson(result, command.settings.dryRun), null, 2)}\n`
        : `${formatReport(result, command.settings.dryRun)}\n`,
    );
    return 0;
  } catch (error) {
    if (!command.json) throw error;
    // A machine reading --json learns what was done before the failure too.
    const done = written.map(({ path: _path, ...tar }) => tar);
    return failedJson(error, { written: done });
  } finally {
    await storages.close();
  }
}

async function plan(command: PlanCommand): Promise<number> {
  const [{ planShards }, { shardSummaries }, { progress, storages }] = await Promise.all([
    import(/* webpackMode: "eager" */ '../core/serialize/plan-shards.ts'),
    import(/* webpackMode: "eager" */ '../core/serialize/shard-plan.ts'),
    nearSide(command),
  ]);
  try {
    const result = await planShards(command.settings, command.shards, storages, { resolving: progress.resolving, ...sayings });
    const { shardPlan, path } = result;
    if (command.json) {
      const upToDate = result.plan.upToDate.map(({ entry, row }) => ({
        name: entry.name,
        artifact: entry.artifact,
        syncName: row.syncName,
      }));
      const shards = shardPlan === undefined ? [] : shardSummaries(shardPlan);
      process.stdout.write(
        `${JSON.stringify({ planFile: path ?? null, oneShard: shardPlan?.oneShard ?? null, shards, upToDate }, null, 2)}\n`,
      );
    } else process.stdout.write(`${formatShardPlan(result)}\n`);
    return 0;
  } finally {
    await storages.close();
  }
}

async function shard(command: ShardCommand): Promise<number> {
  const [{ serializeShard }, { readShardPlan }] = await Promise.all([
    import(/* webpackMode: "eager" */ '../core/serialize/shard-serialize.ts'),
    import(/* webpackMode: "eager" */ '../core/serialize/shard-plan.ts'),
  ]);
  const shardPlan = await readShardPlan(command.planFile);
  const { progress, storages } = await nearSide(command);
  try {
    const settings = {
      plan: shardPlan,
      planFile: command.planFile,
      shard: command.shard,
      dir: command.dir,
      concurrency: command.concurrency,
    };
    const result = await serializeShard({ ...settings, keepTars: true }, storages, { ...progress, ...sayings });
    const written = result.written.map(({ path: _path, ...tar }) => tar);
    process.stdout.write(
      command.json ? `${JSON.stringify({ record: result.recordPath, written }, null, 2)}\n` : `${formatShardResult(result)}\n`,
    );
    return 0;
  } finally {
    await storages.close();
  }
}

async function record(command: RecordCommand): Promise<number> {
  const [{ recordShards }, { readShardPlan }, { readShardRecord }] = await Promise.all([
    import(/* webpackMode: "eager" */ '../core/serialize/record-shards.ts'),
    import(/* webpackMode: "eager" */ '../core/serialize/shard-plan.ts'),
    import(/* webpackMode: "eager" */ '../core/serialize/shard-record.ts'),
  ]);
  const shardPlan = await readShardPlan(command.planFile);
  const records = await Promise.all(command.recordFiles.map(async (file) => ({ file, record: await readShardRecord(file) })));
  const result = await recordShards({ syncDir: command.dir, plan: shardPlan, records, moveTars: true }, sayings);
  if (command.json) {
    const shards = result.shards.map(({ shard, state }) => ({ shard: shard.shard, tars: shard.tars.map((tar) => tar.syncName), state }));
    process.stdout.write(`${JSON.stringify({ recorded: result.recorded.map((entry) => entry.syncName), shards }, null, 2)}\n`);
  } else process.stdout.write(`${formatRecordResult(result)}\n`);
  return 0;
}

/** `--json` on failure: the error and what was done before it, on stdout; the error on stderr too. */
function failedJson(error: unknown, done: Record<string, unknown>): number {
  const message = (error as Error).message;
  process.stdout.write(`${JSON.stringify({ error: message, ...done }, null, 2)}\n`);
  process.stderr.write(`batch-serialize: error: ${message}\n`);
  return 1;
}

async function verify(command: Extract<Command, { kind: 'verify' }>): Promise<number> {
  const { verifySyncDir } = await import(/* webpackMode: "eager" */ '../core/far-side/verify.ts');
  const report = await verifySyncDir(command.options, {
    tarChecked: (tar) =>
      process.stderr.write(`${tar.syncName}: ${tar.ok ? 'ok' : 'FAILED'}${tar.bytes === null ? '' : `, ${formatBytes(tar.bytes)}`}\n`),
  });
  process.stdout.write(command.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatVerifyReport(report)}\n`);
  return report.ok ? 0 : 1;
}

async function deserialize(command: DeserializeCommand): Promise<number> {
  const [{ deserializeSyncDir }, { RegistryClient }, { defaultKeychain }, { readScatterMap }] = await Promise.all([
    import(/* webpackMode: "eager" */ '../core/far-side/deserialize.ts'),
    import(/* webpackMode: "eager" */ '../core/registry/client.ts'),
    import(/* webpackMode: "eager" */ '../core/registry/keychain.ts'),
    import(/* webpackMode: "eager" */ '../core/far-side/scatter-map.ts'),
  ]);
  const scatter = command.scatter ? { rules: command.scatterMap === undefined ? [] : await readScatterMap(command.scatterMap) } : undefined;
  const registries = new RegistryClient({ keychain: defaultKeychain(), insecureHosts: command.insecureRegistries, ...command.timeouts });
  const uploadLine = throttle(LOG_LINE_INTERVAL_MS);
  const loaded: LoadedTar[] = [];
  try {
    const result = await deserializeSyncDir(
      {
        dir: command.dir,
        destination: command.destination,
        dedupScope: command.dedupScope,
        scatter,
        ...(command.recordPath === undefined ? {} : { recordPath: command.recordPath }),
      },
      registries,
      {
        tarStarted: (tar) => process.stderr.write(`${tar.syncName}: checking, then loading\n`),
        rescattering: (tar) => process.stderr.write(`${tar.syncName}: loaded before, scattering its images\n`),
        note: (tar, note) => process.stderr.write(`${tar.syncName}: note: ${note}\n`),
        uploading: (tar, done, total) => {
          if (!uploadLine.due()) return;
          process.stderr.write(`${tar.syncName}: ${formatBytes(done)} of ${formatBytes(total)} uploaded\n`);
        },
        tarLoaded: (tar) => {
          loaded.push(tar);
          process.stderr.write(`${tar.syncName}: loaded as ${tar.reference}, recorded\n`);
        },
      },
    );
    process.stdout.write(command.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatDeserializeResult(result)}\n`);
    return 0;
  } catch (error) {
    if (!command.json) throw error;
    return failedJson(error, { loaded });
  } finally {
    await registries.close();
  }
}

async function collect(command: CollectCommand): Promise<number> {
  const [{ collect }, { ArtifactsApi }] = await Promise.all([
    import(/* webpackMode: "eager" */ '../github/collect.ts'),
    import(/* webpackMode: "eager" */ '../github/artifacts-api.ts'),
  ]);
  const api = new ArtifactsApi({
    apiUrl: command.apiUrl,
    repository: command.repository,
    token: collectToken(process.env),
    retry: { onRetry: (event) => process.stderr.write(`${event.what}: ${event.reason}, trying again in ${event.delayMs} ms\n`) },
  });
  const progressLine = throttle(LOG_LINE_INTERVAL_MS);
  try {
    const result = await collect(
      { dir: command.dir, prefix: command.prefix, repository: command.repository, trackerFilename: command.trackerFilename },
      api,
      {
        listed: (artifacts, tars) =>
          process.stderr.write(`${api.host}: ${artifacts} artifact(s) in ${command.repository}, ${tars} tar(s) of ${command.prefix}\n`),
        downloading: (syncName, artifact, bytes) => {
          if (bytes === 0) {
            progressLine.restart();
            const { name, id, sizeInBytes, runId } = artifact;
            return void process.stderr.write(`${syncName}: downloading ${name} (id ${id}, ${formatBytes(sizeInBytes)}, run ${runId})\n`);
          }
          if (progressLine.due())
            process.stderr.write(`${syncName}: ${formatBytes(bytes)} of ${formatBytes(artifact.sizeInBytes)} downloaded\n`);
        },
        collected: (tar) => process.stderr.write(`${tar.syncName}: checked against its sidecar, collected\n`),
        problem: (problem) => process.stderr.write(`problem: ${problem.message}\n`),
      },
    );
    process.stdout.write(command.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatCollectResult(result)}\n`);
    return result.ok ? 0 : 1;
  } finally {
    await api.close();
  }
}
