import * as core from '@actions/core';
import { totalsOf, type SerializeHooks, type WrittenTar } from '../core/serialize/write-tars.ts';
import { Outputs } from './constants.ts';
import type { ActionSettings } from './inputs.ts';
import type { Services } from './services.ts';
import { ArtifactNames } from './tracker-state.ts';

/** The `beforeRecord` hook: each tar (and its sidecar) as the artifact PREFIX-NNNNNN-NAME.tar, its id kept. */
export function uploadTar(settings: ActionSettings, services: Services, artifactIds: Map<string, number>): SerializeHooks['beforeRecord'] {
  return async (tar) => {
    const name = ArtifactNames.tar(settings.cacheKeyPrefix, tar.syncName);
    const uploaded = await services.artifacts.upload(name, [tar.path, tar.checksumPath], settings.batch.syncDir, settings.retentionDays);
    artifactIds.set(tar.syncName, uploaded.id);
    core.info(`Uploaded ${tar.syncName} as artifact ${name} (${uploaded.id}).`);
  };
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
  core.setOutput(Outputs.ArtifactIds, JSON.stringify(Object.fromEntries(artifactIds)));
}
