import type { BatchResult } from './run.ts';

/** A run's result for machines: the CLI's `--json` and the Action's `plan` output. */
export function resultJson(result: BatchResult, dryRun: boolean): unknown {
  return {
    dryRun,
    upToDate: result.plan.upToDate.map(({ entry, row }) => ({ name: entry.name, artifact: entry.artifact, syncName: row.syncName })),
    planned: result.plan.tars.map((tar) => ({
      syncName: tar.syncName,
      name: tar.entry.name,
      artifact: tar.entry.artifact,
      previous: tar.previous?.artifact ?? null,
      digest: tar.root.digest,
      manifests: tar.graph.manifests.length,
      blobs: tar.blobs.length,
      contentBytes: tar.contentBytes,
      deduplicatedBlobs: tar.deduplicated.length,
      deduplicatedBytes: tar.deduplicatedBytes,
    })),
    written: result.written.map(({ path: _path, ...tar }) => tar),
  };
}
