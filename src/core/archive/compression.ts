import type { Transform } from 'node:stream';
import { constants, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';

/** How a whole tar stream is wrapped. */
export type Compression = 'none' | 'gzip' | 'zstd';

export const compressions: readonly Compression[] = ['none', 'gzip', 'zstd'];

export function parseCompression(value: string): Compression {
  const normalized = value.trim().toLowerCase();
  const found = compressions.find((c) => c === normalized);
  if (found === undefined) {
    throw new Error(`unknown compression ${JSON.stringify(value)} (allowed: ${compressions.join(', ')})`);
  }
  return found;
}

/**
 * Output buffer of a compressor: zstd's 16 KiB default makes a call, a chunk and a write for every 16 KiB;
 * 1 MiB took a 400 MB tar from 3.55 s to 2.29 s (`npm run bench`). file-sink.ts's worker uses the same.
 */
export const COMPRESSOR_CHUNK_BYTES = 1024 * 1024;

/** undefined for `none`: the caller leaves the stage out of its pipeline. */
export function compressor(compression: Compression, level?: number): Transform | undefined {
  const chunkSize = COMPRESSOR_CHUNK_BYTES;
  switch (compression) {
    case 'none':
      return undefined;
    case 'gzip':
      return level === undefined ? createGzip({ chunkSize }) : createGzip({ chunkSize, level });
    case 'zstd':
      return level === undefined
        ? createZstdCompress({ chunkSize })
        : createZstdCompress({ chunkSize, params: { [constants.ZSTD_c_compressionLevel]: level } });
  }
}

/**
 * Output buffer of a decompressor. The 16 KiB default makes a chunk, a callback and a stream hop for every 16 KiB;
 * 64 KiB cut the CPU of unpacking a zstd tar by a third, 256 KiB a fifth more of deserialize's (bench:far). Readers
 * that keep a piece of the output copy it (tar-upload.ts): a piece keeps its whole buffer alive.
 */
const DECOMPRESSOR_CHUNK_BYTES = 256 * 1024;

export function decompressor(compression: Compression): Transform | undefined {
  const chunkSize = DECOMPRESSOR_CHUNK_BYTES;
  switch (compression) {
    case 'none':
      return undefined;
    case 'gzip':
      return createGunzip({ chunkSize });
    case 'zstd':
      return createZstdDecompress({ chunkSize });
  }
}

export function tarSuffix(compression: Compression): string {
  switch (compression) {
    case 'none':
      return '.tar';
    case 'gzip':
      return '.tar.gz';
    case 'zstd':
      return '.tar.zst';
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** By magic bytes, as deserializers must: a file's name says nothing reliable about its content. */
export function detectCompression(firstBytes: Uint8Array): Compression {
  const startsWith = (magic: number[]) => magic.every((byte, i) => firstBytes[i] === byte);
  if (startsWith(ZSTD_MAGIC)) return 'zstd';
  if (startsWith(GZIP_MAGIC)) return 'gzip';
  return 'none';
}
