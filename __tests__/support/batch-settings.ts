import type { BatchSettings } from '../../src/core/serialize/run.ts';

/** A serialize run of BATCH-FILE into SYNC-DIR as the CLI runs it by default, but for `changes` (concurrency 2). */
export function batchSettings(batchFile: string, syncDir: string, changes: Partial<BatchSettings> = {}): BatchSettings {
  return {
    batchFile,
    syncDir,
    trackerFilename: 'record-keeping.csv',
    compression: 'none',
    compressionLevel: undefined,
    manifestJson: false,
    dedupScope: 'name',
    dryRun: false,
    concurrency: 2,
    ...changes,
  };
}
