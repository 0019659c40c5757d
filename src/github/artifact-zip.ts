import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { fileSink } from '../core/archive/file-sink.ts';

/** A zip we will not unpack: the message says why, naming the entry. */
export class ArtifactZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArtifactZipError';
  }
}

export interface ExtractedFile {
  path: string;
  bytes: number;
  /** `sha256:<hex>` of the bytes written. */
  sha256: string;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const MADE_BY_UNIX = 3;

/** A file a zip may hold: the most bytes it may have, and whether the zip must hold it. */
export interface WantedFile {
  maxBytes: number;
  required: boolean;
}

/**
 * Unpacks a workflow artifact's zip into `dir`, which must hold none of the names yet: only the files `wanted`
 * (by path in the zip), each once, regular files, every required one; anything else refuses the whole zip before a
 * byte is written (yauzl reads the central directory, the zip's own table of contents, and already refuses absolute
 * paths and `..`). Each file is fsynced; their sizes and hashes are returned by name.
 */
export async function extractArtifactZip(
  zipPath: string,
  wanted: ReadonlyMap<string, WantedFile>,
  dir: string,
): Promise<Map<string, ExtractedFile>> {
  const expected = [...wanted.keys()].join(', ');
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(zipPath, { strictFileNames: true, validateEntrySizes: true, autoClose: false });
  } catch (error) {
    throw new ArtifactZipError(`not a zip we can read: ${(error as Error).message}`);
  }
  try {
    const entries = new Map<string, yauzl.Entry>();
    try {
      for await (const entry of zip.eachEntry()) {
        refuseEntry(entry, wanted, expected, entries);
        entries.set(entry.fileName, entry);
      }
    } catch (error) {
      if (error instanceof ArtifactZipError) throw error;
      throw new ArtifactZipError(`refused: ${(error as Error).message}`);
    }
    for (const [name, { required }] of wanted)
      if (required && !entries.has(name)) throw new ArtifactZipError(`has no ${name} (expected ${expected})`);

    const extracted = new Map<string, ExtractedFile>();
    for (const [name, entry] of entries) {
      const path = join(dir, name);
      await mkdir(dirname(path), { recursive: true });
      const handle = await open(path, 'wx');
      try {
        const sink = fileSink(handle, { compression: 'none', expectedBytes: entry.uncompressedSize });
        await pipeline(await zip.openReadStreamPromise(entry), ...sink.stages);
        extracted.set(name, { path, ...sink.written() });
      } catch (error) {
        throw new ArtifactZipError(`${name}: cannot unpack: ${(error as Error).message}`);
      } finally {
        await handle.close();
      }
    }
    return extracted;
  } finally {
    zip.close();
  }
}

function refuseEntry(
  entry: yauzl.Entry,
  wanted: ReadonlyMap<string, WantedFile>,
  expected: string,
  seen: ReadonlyMap<string, unknown>,
): void {
  const name = entry.fileName;
  const shown = JSON.stringify(name);
  if (name.startsWith('/') || name.split('/').includes('..')) throw new ArtifactZipError(`refused: entry ${shown} leaves the directory`);
  if (name.endsWith('/')) throw new ArtifactZipError(`refused: entry ${shown} is a directory (expected only ${expected})`);
  const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (entry.versionMadeBy >>> 8 === MADE_BY_UNIX && type !== 0 && type !== S_IFREG) {
    throw new ArtifactZipError(`refused: entry ${shown} is ${type === S_IFLNK ? 'a symbolic link' : 'not a regular file'}`);
  }
  const limit = wanted.get(name)?.maxBytes;
  if (limit === undefined) throw new ArtifactZipError(`refused: unexpected entry ${shown} (expected only ${expected})`);
  if (seen.has(name)) throw new ArtifactZipError(`refused: entry ${shown} appears twice`);
  if (entry.isEncrypted()) throw new ArtifactZipError(`refused: entry ${shown} is encrypted`);
  if (entry.uncompressedSize > limit)
    throw new ArtifactZipError(`refused: entry ${shown} is ${entry.uncompressedSize} bytes, over ${limit}`);
}
