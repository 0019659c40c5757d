import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { decompressor, detectCompression } from '../../../src/core/archive/compression.ts';

export interface TarEntry {
  name: string;
  type: string;
  size: number;
  bytes: Buffer;
}

/** Reads a tar (any compression, detected by magic bytes) back into its entries, in order. */
export async function readTar(path: string): Promise<TarEntry[]> {
  const handle = await open(path, 'r');
  const head = Buffer.alloc(4);
  await handle.read(head, 0, 4, 0);
  await handle.close();
  const unpack = decompressor(detectCompression(head));
  const entries: TarEntry[] = [];
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      entries.push({ name: header.name, type: header.type ?? 'file', size: header.size ?? 0, bytes: Buffer.concat(chunks) });
      next();
    });
  });
  await (unpack ? pipeline(createReadStream(path), unpack, reader) : pipeline(createReadStream(path), reader));
  return entries;
}

/** The digests of the blobs a tar holds. */
export function blobDigests(entries: TarEntry[]): Set<string> {
  return new Set(entries.filter((e) => e.name.startsWith('blobs/sha256/')).map((e) => 'sha256:' + e.name.slice('blobs/sha256/'.length)));
}
