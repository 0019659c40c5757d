import type { TarScan } from '../archive/tar-scan.ts';
import { Defaults } from '../defaults.ts';
import type { DedupScope } from '../sync-dir/dedup-scope.ts';

/**
 * The dedup scope a tar is checked or loaded with: the far side's `--dedup-scope` when given (on purpose, so it
 * wins, with a note where the tar says otherwise), else the one its index.json records, else (ace-dt's and older
 * tars record none) the default, `name`.
 */
export function tarScope(scan: TarScan, asked: DedupScope | undefined, doing: 'checked' | 'loaded'): { scope: DedupScope; note?: string } {
  const recorded = scan.dedupScope;
  if (asked === undefined) return { scope: recorded ?? Defaults.dedupScope };
  if (recorded === undefined || recorded === asked) return { scope: asked };
  return {
    scope: asked,
    note: `serialized with --dedup-scope ${recorded} (its index.json says so), ${doing} with --dedup-scope ${asked} as asked`,
  };
}
