import { readRequired } from '../sync-dir/files.ts';
import { repositoryUnder, type Destination } from './destination.ts';
import { InputError } from '../input-error.ts';
import { formatReference, hideCredentials, parseReference, type RegistryReference } from '../oci/reference.ts';

/** One `SOURCE-PREFIX=DEST-PREFIX` line of a scatter map. */
export interface ScatterRule {
  from: string;
  to: string;
  where: string;
}

/** Where a gathered image goes, and by which tag (none: by digest only). */
export interface ScatterTarget {
  reference: RegistryReference;
  tag: string | undefined;
}

/** `SOURCE-PREFIX=DEST-PREFIX` per line; `#` comments and blank lines are skipped. */
export async function readScatterMap(path: string): Promise<ScatterRule[]> {
  const text = await readRequired(path, 'scatter map');
  return text.split(/\r?\n/).flatMap((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return [];
    const where = `${path}:${i + 1}`;
    const equals = line.indexOf('=');
    const from = line.slice(0, Math.max(equals, 0)).trim();
    const to = line.slice(equals + 1).trim();
    if (equals < 0 || from === '' || to === '')
      throw new InputError(`${where}: expected SOURCE-PREFIX=DEST-PREFIX, got ${JSON.stringify(hideCredentials(line))}`);
    return [{ from, to, where }];
  });
}

/**
 * An image's original reference (its `vnd.act3-ace.manifest.source`) to where it goes: the longest matching
 * SOURCE-PREFIX of the map is replaced by its DEST-PREFIX; without a match, the repository path goes under the
 * destination (`docker.io/grafana/grafana:10.4.1` → `DEST/grafana/grafana:10.4.1`).
 */
export function scatterTarget(source: string, destination: Destination, rules: readonly ScatterRule[]): ScatterTarget {
  const what = `scatter of ${source}`;
  let parsed;
  try {
    parsed = parseReference(source);
  } catch (error) {
    throw new InputError(`${what}: ${(error as Error).message}`);
  }
  if (parsed.kind !== 'registry') throw new InputError(`${what}: not a registry reference`);
  const rule = longestMatch(source, rules) ?? longestMatch(formatReference(parsed), rules);
  if (rule === undefined) {
    const reference = repositoryUnder(destination, parsed.repository, what);
    return { reference, tag: parsed.tag ?? undefined };
  }
  const mapped = rule.to + (source.startsWith(rule.from) ? source : formatReference(parsed)).slice(rule.from.length);
  let target;
  try {
    target = parseReference(mapped);
  } catch (error) {
    throw new InputError(`${rule.where}: maps ${source} to ${hideCredentials(mapped)}: ${(error as Error).message}`);
  }
  if (target.kind !== 'registry')
    throw new InputError(`${rule.where}: maps ${source} to ${hideCredentials(mapped)}, not a registry reference`);
  return { reference: { kind: 'registry', registry: target.registry, repository: target.repository }, tag: target.tag };
}

function longestMatch(source: string, rules: readonly ScatterRule[]): ScatterRule | undefined {
  let best: ScatterRule | undefined;
  for (const rule of rules) if (source.startsWith(rule.from) && (best === undefined || rule.from.length > best.from.length)) best = rule;
  return best;
}
