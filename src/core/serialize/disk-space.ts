import { rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import type { Compression } from '../archive/compression.ts';
import { formatBytes } from '../format.ts';
import { totalSize } from '../oci/graph.ts';
import type { PlannedTar } from './planner.ts';
import type { SerializeHooks } from './write-tars.ts';

const BLOCK = 512;
/** From this size a blob's entry gets a PAX header (tar-writer.ts) and the ustar size field no longer holds it. */
const PAX_FROM = 8 * 1024 ** 3;
/** oci-layout, the opening index.json, the two directories, the end-of-archive blocks, manifest.json's header. */
const FIXED_ENTRIES = 10 * BLOCK;
/** gzip's stored blocks and zstd's raw blocks cost a few bytes per block when the content does not compress. */
const COMPRESSION_OVERHEAD = { ratio: 1.001, bytes: 64 * 1024 } as const;

/** What the free-space check needs of a planned tar. */
export interface SizedTar {
  syncName: string;
  /** Every blob the tar holds, manifests included. */
  blobs: ReadonlyArray<{ size: number }>;
  /** The manifests of its graph: each is listed in the closing index.json (and manifest.json). */
  manifestBytes: number;
}

export function sizedTar(tar: PlannedTar): SizedTar {
  return { syncName: tar.syncName, blobs: tar.blobs, manifestBytes: totalSize(tar.graph.manifests) };
}

/**
 * An upper bound of the tar's file size: each blob with its header and padding, the fixed entries, and the closing
 * index.json and manifest.json, which list at most what the manifests do. Compression of layers that are compressed
 * already saves little, but can add a block header's worth per block: with compression this is an upper bound, and
 * the file is usually a little smaller.
 */
export function tarBytesBound(tar: SizedTar, compression: Compression): number {
  let bytes = FIXED_ENTRIES + 2 * (tar.manifestBytes + BLOCK);
  for (const { size } of tar.blobs) bytes += BLOCK + Math.ceil(size / BLOCK) * BLOCK + (size >= PAX_FROM ? 2 * BLOCK : 0);
  return compression === 'none' ? bytes : Math.ceil(bytes * COMPRESSION_OVERHEAD.ratio) + COMPRESSION_OVERHEAD.bytes;
}

export interface DiskSpaceCheck {
  dir: string;
  tars: readonly SizedTar[];
  compression: Compression;
  /** Each tar is deleted once uploaded and recorded (the Action): only the largest must fit, one at a time. */
  oneAtATime: boolean;
}

/**
 * Before anything is written: the planned tars must fit the file system of `dir` (the largest alone when they are
 * deleted one by one, else all of them), or the run stops with the numbers. Free space is what an unprivileged
 * process may use (statfs's bavail).
 */
export async function checkDiskSpace(check: DiskSpaceCheck, freeBytes: (dir: string) => Promise<number> = availableBytes): Promise<void> {
  if (check.tars.length === 0) return;
  const sized = check.tars.map((tar) => ({ tar, bytes: tarBytesBound(tar, check.compression) }));
  const largest = sized.reduce((big, next) => (next.bytes > big.bytes ? next : big));
  const need = check.oneAtATime ? largest.bytes : sized.reduce((sum, { bytes }) => sum + bytes, 0);
  const free = await freeBytes(check.dir);
  if (need <= free) return;
  const amount = (bytes: number) => `${formatBytes(bytes)} (${bytes} bytes)`;
  const what = check.oneAtATime
    ? `the largest tar of this run, ${largest.tar.syncName}, needs up to ${amount(need)} (each tar is deleted once uploaded ` +
      'and recorded, so one at a time must fit)'
    : `the ${sized.length} tar(s) of this run stay there and need up to ${amount(need)} together (the largest, ` +
      `${largest.tar.syncName}, ${amount(largest.bytes)})`;
  const bound =
    check.compression === 'none'
      ? 'blobs plus tar headers'
      : `blobs plus tar headers before ${check.compression} compression: an upper bound, the files are usually a little smaller`;
  throw new Error(`not enough free space in ${check.dir}: ${amount(free)} free, and ${what} (${bound}). Nothing was written.`);
}

async function availableBytes(dir: string): Promise<number> {
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}

/**
 * The hooks, and each tar (or its parts) and its sidecar deleted once recorded, right after `tarRecorded`: the next tar is written
 * only then, so the disk holds one tar at a time (the recorded one is uploaded already, in `beforeRecord`).
 */
export function deletingRecordedTars(hooks: SerializeHooks): SerializeHooks {
  return {
    ...hooks,
    tarRecorded(tar) {
      hooks.tarRecorded?.(tar);
      // Synchronous: serializePlan does not wait for this hook, and the next tar must not start before it is gone.
      for (const path of [...tar.files, tar.checksumPath]) rmSync(path, { force: true });
    },
  };
}
