import * as core from '@actions/core';
import { basename } from 'node:path';
import { partName } from '../core/sync-dir/sync-name.ts';
import { totalsOf, type SerializeHooks, type WrittenTar } from '../core/serialize/write-tars.ts';
import { Outputs } from './constants.ts';
import type { ActionSettings } from './inputs.ts';
import type { Services } from './services.ts';
import { ArtifactNames } from './tracker-state.ts';

/**
 * The `beforeRecord` hook: each tar (and its sidecar) as the artifact PREFIX-NNNNNN-NAME.tar, its id kept by file name.
 * A tar in parts (`max-file-size`) goes as one artifact per part, PREFIX-NNNNNN-NAME.tar.part-001, …, each with the
 * sidecar, so that each download fits the limit and checks itself; the tracker records it once all are up.
 */
export function uploadTar(settings: ActionSettings, services: Services, artifactIds: Map<string, number>): SerializeHooks['beforeRecord'] {
  return async (tar) => {
    for (const file of tar.files) {
      const fileName = basename(file);
      const name = ArtifactNames.tar(settings.cacheKeyPrefix, fileName);
      const uploaded = await services.artifacts.upload(name, [file, tar.checksumPath], settings.batch.syncDir, settings.retentionDays);
      artifactIds.set(fileName, uploaded.id);
      core.info(`Uploaded ${fileName} as artifact ${name} (${uploaded.id}).`);
    }
  };
}

/** The `artifact-ids` output: each tar's artifact id by sync name; a tar in parts, the list of its parts' ids. */
export function artifactIdsOutput(
  ids: ReadonlyMap<string, number>,
  tars: ReadonlyArray<{ syncName: string; parts: number | undefined }>,
): string {
  const uploaded = tars.flatMap(({ syncName, parts }) => {
    const found = artifactIdsOf(ids, syncName, parts);
    if (found.length === 0) return [];
    return [[syncName, (parts ?? 1) > 1 ? found : found[0]] as const];
  });
  return JSON.stringify(Object.fromEntries(uploaded));
}

/** The artifact ids of a tar, in order: its own, or its parts' (`ids` keyed by file name); empty when none is up. */
export function artifactIdsOf(ids: ReadonlyMap<string, number>, syncName: string, parts = 0): number[] {
  const names = parts > 1 ? Array.from({ length: parts }, (_, index) => partName(syncName, index + 1)) : [syncName];
  const found = names.flatMap((name) => ids.get(name) ?? []);
  return found.length === names.length ? found : [];
}

/**
 * `tars`: the files' paths while they stay on the runner, their names once deleted (each is in the artifact
 * PREFIX-NAME); `bytes`, `artifact-ids`.
 */
export function setWrittenOutputs(
  settings: ActionSettings,
  written: readonly WrittenTar[],
  artifactIds: ReadonlyMap<string, number>,
): void {
  const kept = settings.batch.keepTars !== false;
  core.setOutput(Outputs.Tars, JSON.stringify(written.map((tar) => (kept ? tar.path : tar.syncName))));
  core.setOutput(Outputs.Bytes, String(totalsOf(written).bytes));
  core.setOutput(
    Outputs.ArtifactIds,
    artifactIdsOutput(
      artifactIds,
      written.map((tar) => ({ syncName: tar.syncName, parts: tar.files.length })),
    ),
  );
}
