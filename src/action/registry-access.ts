import * as core from '@actions/core';
import type { ProgressReporter } from '../core/serialize/progress.ts';
import { RegistryAndLayoutStorages } from '../core/serialize/storages.ts';
import type { ActionSettings } from './inputs.ts';

/** The registries and layouts a job reads, the password sent to the `registry` input's host only. */
export function openStorages(settings: ActionSettings, progress: ProgressReporter): RegistryAndLayoutStorages {
  const login = settings.registryLogin;
  return new RegistryAndLayoutStorages({
    insecureRegistries: settings.insecureRegistries,
    ...settings.timeouts,
    // Never to a host the batch list chose.
    credentials: login ? { [login.registry]: { username: login.username, password: login.password } } : {},
    retry: { onRetry: progress.retrying },
  });
}

/** What a near-side run says, as the Action says it: notes in the log, warnings as annotations. */
export const said = { note: core.info, warning: core.warning } as const;
