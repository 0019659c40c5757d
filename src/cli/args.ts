import { parseArgs } from 'node:util';
import type { BatchSettings } from '../core/batch.ts';
import { InputError } from '../core/input-error.ts';
import { checkTrackerFilename, parseCompressionLevel, parseCompressionSetting, parseDedupScope, parseWholeNumber } from '../core/settings.ts';
import { DEFAULT_TRACKER_FILENAME } from '../core/tracker.ts';

export const USAGE = `Usage: batch-serialize BATCH-LIST SYNC-DIRECTORY [options]

Serializes the artifacts of BATCH-LIST (CSV: name,artifact) into numbered OCI-layout tars in
SYNC-DIRECTORY, holding only the blobs that no earlier tar holds, and records them in the tracker.
Artifacts are registry references (host/repo:tag, repo@sha256:...) or ocidir://PATH:TAG.

Options:
  --compression none|gzip|zstd   compress the whole tar (default none)
  --compression-level N          gzip 0-9, zstd 1-22
  --tracker-filename NAME        tracker file in SYNC-DIRECTORY (default ${DEFAULT_TRACKER_FILENAME})
  --manifest-json                add a docker-load style manifest.json to each tar
  --dedup-scope name|all         skip blobs held by earlier tars of the same name (default) or of any name
  --dry-run                      plan only: fetch manifests, no layer blobs, write nothing
  --concurrency N                blobs fetched at once (default 4)
  --insecure-registry HOST       allow plain HTTP to HOST (repeatable; loopback hosts always may)
  --json                         print the result as JSON on stdout
  -h, --help                     show this help
  -v, --version                  show the version

Credentials come from the Docker config (DOCKER_CONFIG or ~/.docker/config.json), as after docker login.`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'serialize'; settings: BatchSettings; insecureRegistries: string[]; json: boolean };

export function parseCommandLine(argv: string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        compression: { type: 'string', default: 'none' },
        'compression-level': { type: 'string' },
        'tracker-filename': { type: 'string', default: DEFAULT_TRACKER_FILENAME },
        'manifest-json': { type: 'boolean', default: false },
        'dedup-scope': { type: 'string', default: 'name' },
        'dry-run': { type: 'boolean', default: false },
        concurrency: { type: 'string', default: '4' },
        'insecure-registry': { type: 'string', multiple: true, default: [] },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  if (positionals.length !== 2) {
    throw new UsageError(`expected BATCH-LIST and SYNC-DIRECTORY, got ${positionals.length} argument(s)`);
  }
  const [batchFile = '', syncDir = ''] = positionals;
  try {
    const compression = parseCompressionSetting('--compression', values.compression);
    const level = values['compression-level'];
    return {
      kind: 'serialize',
      json: values.json,
      insecureRegistries: values['insecure-registry'],
      settings: {
        batchFile,
        syncDir,
        trackerFilename: checkTrackerFilename('--tracker-filename', values['tracker-filename']),
        compression,
        compressionLevel: level === undefined ? undefined : parseCompressionLevel('--compression-level', compression, level),
        manifestJson: values['manifest-json'],
        dedupScope: parseDedupScope('--dedup-scope', values['dedup-scope']),
        dryRun: values['dry-run'],
        concurrency: parseWholeNumber('--concurrency', values.concurrency, 1, 64),
      },
    };
  } catch (error) {
    if (error instanceof InputError) throw new UsageError(error.message);
    throw error;
  }
}
