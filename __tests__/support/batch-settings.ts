import { Defaults } from '../../src/core/defaults.ts';
import type { BatchSettings } from '../../src/core/serialize/run.ts';

/** A serialize run of BATCH-FILE into SYNC-DIR as the CLI runs it by default, but for `changes` (concurrency 2). */
export function batchSettings(batchFile: string, syncDir: string, changes: Partial<BatchSettings> = {}): BatchSettings {
  return {
    batchFile,
    syncDir,
    trackerFilename: Defaults.trackerFilename,
    compression: Defaults.compression,
    compressionLevel: undefined,
    manifestJson: false,
    dedupScope: Defaults.dedupScope,
    dryRun: false,
    concurrency: 2,
    ...changes,
  };
}
