import { InputError } from '../input-error.ts';
import {
  CREDENTIALS_REFUSED,
  hideCredentials,
  isRegistryHost,
  looksLikeHost,
  parseReference,
  type RegistryReference,
} from '../oci/reference.ts';

/** Where the far side loads to: a registry and an optional path under which each name becomes a repository. */
export interface Destination {
  registry: string;
  /** `''` or `team/mirror`: no leading or trailing slash. */
  path: string;
}

/** `HOST[:PORT][/PATH]`, without a tag or digest: `registry.example.com/mirror`, `127.0.0.1:5000`. */
export function parseDestination(text: string): Destination {
  const trimmed = text.trim().replace(/\/+$/, '');
  // A destination has no digest: whatever stands before an `@` in it is taken for USER:PASSWORD.
  const shown = hideCredentials(trimmed);
  if (shown !== trimmed) throw new InputError(`destination ${JSON.stringify(shown)}: ${CREDENTIALS_REFUSED}`);
  const slash = trimmed.indexOf('/');
  const registry = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const path = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (!looksLikeHost(registry) || !isRegistryHost(registry) || path.includes('@') || path.includes(':')) {
    throw new InputError(
      `destination ${JSON.stringify(text)}: expected HOST[:PORT][/PATH] (a registry and an optional repository path, no tag or digest)`,
    );
  }
  if (path !== '') repositoryUnder({ registry, path: '' }, path, `destination ${JSON.stringify(text)}`);
  return { registry, path };
}

/** The repository `DEST/RELATIVE` (a sync name, or an image's repository for scatter). */
export function repositoryUnder(destination: Destination, relative: string, what: string): RegistryReference {
  const repository = destination.path === '' ? relative : `${destination.path}/${relative}`;
  let parsed;
  try {
    parsed = parseReference(`${destination.registry}/${repository}`);
  } catch (error) {
    throw new InputError(`${what}: ${(error as Error).message}`);
  }
  if (parsed.kind !== 'registry' || parsed.registry !== destination.registry || parsed.repository !== repository) {
    throw new InputError(
      `${what}: ${destination.registry}/${repository} is not a repository name (lowercase letters, digits and . _ - only)`,
    );
  }
  return { kind: 'registry', registry: destination.registry, repository };
}

export function formatDestination(destination: Destination): string {
  return destination.path === '' ? destination.registry : `${destination.registry}/${destination.path}`;
}
