import type { Compression } from './archive/compression.ts';
import type { DedupScope } from './sync-dir/dedup-scope.ts';
import { DEFAULT_TRACKER_FILENAME } from './sync-dir/tracker.ts';

/**
 * The defaults the CLI and the Action share, written once: src/cli/args.ts (options and usage texts) and
 * src/action/inputs.ts read them here, and a unit test holds action.yml's `default:` values to them.
 */
export const Defaults = {
  compression: 'none' satisfies Compression,
  trackerFilename: DEFAULT_TRACKER_FILENAME,
  dedupScope: 'name' satisfies DedupScope,
  /**
   * Downloads at once while a tar is written, each on its own connection. Across the internet a connection gets what
   * its round trip and a CDN's cap on one stream allow (25 MB/s at 40 ms in `npm run bench:wan`): 8 of them fill
   * 200 MB/s, what the writer takes; skopeo runs 6.
   */
  concurrency: 8,
  /**
   * The waits of a registry request, in seconds. Long enough for a slow registry or a blob store preparing a large
   * blob, short enough that one that took the connection and went silent fails the run in minutes (retries included),
   * not in half an hour (undici's own defaults are 10 s to connect, then 300 s for headers and 300 s of body silence).
   */
  connectTimeout: 30,
  /** From the request sent to the response's headers. */
  responseTimeout: 60,
  /** Silence in the middle of a response's body. */
  idleTimeout: 60,
} as const;

/** The bounds of the timeouts, in seconds: an hour is already far past any registry's own. */
export const TIMEOUT_RANGE = [1, 3600] as const;

/** The bounds of `--concurrency` and the `concurrency` input. */
export const CONCURRENCY_RANGE = [1, 64] as const;

/** The bounds of `plan --shards` and the `shards` input (its default, the most): GitHub runs at most 256 jobs of one matrix. */
export const SHARDS_RANGE = [1, 256] as const;
