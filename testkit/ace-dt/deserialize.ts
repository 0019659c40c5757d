/**
 * ace-dt's mirror.Deserialize (internal/mirror/deserialize.go): one tar into the destination. Compression by
 * magic bytes (isGzip, isZstd), then entry by entry: `oci-layout` (consumeOCILayout), each `index.json`
 * (consumeIndexJSON, the strconv.Atoi of `vnd.act3-ace.data.layer.size.deduplicated`, the TaggableTracker told
 * of every manifest it lists, and no missing blob allowed when one is met), blobs (consumeBlob: pushed unless
 * the destination has them, then AddBlob), anything else ignored, or refused when strict; at the end, no
 * missing blob. Lenient (`Strict: false`, what batch-deserialize uses) cleans names with path.Clean; strict
 * (`mirror deserialize --strict`) takes them as written and checks the order oci-layout, index.json, blobs.
 *
 * Decompression is Node's zlib: a damaged gzip or zstd stream is refused where Go's readers refuse it, but in
 * Node's words (and Go's gzip.NewReader checks the header before the first entry is read, Node on that read).
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { AceDtError, HarnessLimit, goErrno, goErrors, isSentinel, withContext, wrapf } from './errors.ts';
import { decodeAs, decodeFirstJson, unmarshalJson } from './go-json.ts';
import { base, clean, dir } from './go-path.ts';
import { atoi, quote } from './go-strconv.ts';
import { GoTarReader, type GoTarHeader } from './go-tar.ts';
import { decodeIndex, goTypes, mediaTypes, type GoDescriptor } from './image-spec.ts';
import { ExistenceCachedStorage, MemoryStore, readAllVerified, type Storage } from './oras.ts';
import type { DestinationRepository } from './registry.ts';
import { TaggableTracker } from './taggable-tracker.ts';

export interface DeserializeOptions {
  file: string;
  /** The repository the tar is loaded into; it keeps what earlier calls pushed. */
  destination: DestinationRepository;
  strict: boolean;
}

/** Entries the model reads whole (oci-layout, index.json, blobs it pushes): beyond this it stops, a HarnessLimit. */
const READ_WHOLE_LIMIT = 256 * 1024 * 1024;

const Stage = { ociLayout: 1, indexJson: 2, blob: 3 } as const;

/** Deserialize: the root descriptor (the first manifest of the first index.json), or ace-dt's error. */
export async function deserialize(options: DeserializeOptions): Promise<GoDescriptor> {
  const stream = await openDecompressed(options.file);
  try {
    return await readTar(new GoTarReader(stream, zlibError), options);
  } finally {
    stream.destroy();
  }
}

async function readTar(tar: GoTarReader, options: DeserializeOptions): Promise<GoDescriptor> {
  const remote = new ExistenceCachedStorage(options.destination);
  const cache = new MemoryStore();
  const tracker = new TaggableTracker(remote, cache);
  let stage: number = Stage.ociLayout;
  let root: GoDescriptor | undefined;
  let indexes = 0;

  for (;;) {
    const header = await withContext('error getting tar header', () => tar.next());
    if (header === undefined) break;
    if (isDir(header)) continue;
    const name = options.strict ? header.name : clean(header.name);

    if (name === 'oci-layout') {
      await consumeOciLayout(tar);
      if (options.strict) {
        if (stage !== Stage.ociLayout) throw new AceDtError(`expected the first file to be named ${quote('oci-layout')}`);
        stage++;
      }
    } else if (name === 'index.json') {
      indexes++;
      if (options.strict && indexes > 2) throw new AceDtError(`expected 2 index.json files in Strict mode but received ${indexes}`);
      const missing = tracker.missing().length;
      if (missing !== 0) throw new AceDtError(`expected 0 missing blobs when processing an index.json file, but found ${missing}`);
      if (options.strict && stage > Stage.indexJson) stage = Stage.indexJson;
      const catalog = await consumeIndexJson(tar);
      const deduplicated = catalog.annotations.get('vnd.act3-ace.data.layer.size.deduplicated') ?? '';
      await withContext('getting the total deduplicated size', () => atoi(deduplicated === '' ? '0' : deduplicated));
      for (const d of catalog.manifests) {
        await tracker.notifyManifest(d).catch((error: unknown) => {
          // errors.Join(err, fmt.Errorf("%d missing blobs", ...)): the two texts on two lines.
          throw error instanceof AceDtError ? new AceDtError(`${error.message}\n${tracker.missing().length} missing blobs`) : error;
        });
      }
      const first = catalog.manifests[0];
      if (first === undefined) {
        throw new AceDtError('multiple manifests in index.json, but no manifest with org.opencontainers.image.ref.name was set');
      }
      if (options.strict) {
        if (stage !== Stage.indexJson) throw new AceDtError(`expected the second file to be named ${quote('index.json')}`);
        stage++;
      }
      root ??= first;
    } else if (dir(dir(name)) === 'blobs') {
      await consumeBlob(name, header.size, tar, { tracker, remote, cache });
      if (options.strict && stage !== Stage.blob) throw new AceDtError('expected the third file onward to be a blob');
    } else if (options.strict) {
      throw new AceDtError(`unexpected file ${quote(header.name)}`);
    }
  }
  if (root === undefined) throw new AceDtError(`missing ${quote('index.json')} file`);
  const missing = tracker.missing().length;
  if (missing !== 0) throw new AceDtError(`${missing} missing blobs`);
  return root;
}

/** os.Open, a 64 KiB bufio.Reader, 10 bytes peeked for the magic, then gzip, zstd or the bytes as they are. */
async function openDecompressed(file: string): Promise<Readable> {
  const info = await stat(file).catch(() => undefined);
  if (info?.isFIFO() === true) throw new HarnessLimit(`${file} is a FIFO: ace-dt's os.Open waits for a writer there, forever`);
  const handle = await open(file, constants.O_RDONLY).catch((error: NodeJS.ErrnoException) => {
    throw new AceDtError(`error opening the source file provided: open ${file}: ${goErrno(error)}`);
  });
  const head = Buffer.alloc(10);
  const { bytesRead } = await handle.read(head, 0, 10, 0).catch((error: NodeJS.ErrnoException) => {
    void handle.close();
    throw new AceDtError(`failed to read header: read ${file}: ${goErrno(error)}`);
  });
  const raw = handle.createReadStream({ start: 0, highWaterMark: 64 * 1024 });
  const gzip = bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b;
  const zstd = bytesRead >= 4 && head.readUInt32BE(0) === 0x28b52ffd;
  if (!gzip && !zstd) return raw;
  // pipeline: a read error reaches the decompressor's consumer, and destroying it closes the file.
  return pipeline(raw, gzip ? createGunzip() : createZstdDecompress(), () => undefined);
}

/** A failing decompressor as Go's readers fail: a stream that stops short is io.ErrUnexpectedEOF. */
function zlibError(error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'Z_BUF_ERROR' || (error as Error).message === 'unexpected end of file') return goErrors.unexpectedEof();
  return new AceDtError(`decompression (Node's zlib): ${(error as Error).message}`);
}

/** hdr.FileInfo().IsDir(): type '5', or mode bits saying a directory. */
function isDir(header: GoTarHeader): boolean {
  return header.typeflag === '5' || (header.mode & ~0o7777n) === 0o40000n;
}

/** consumeOCILayout: json.Decoder on the entry (the first value only), then the version. */
async function consumeOciLayout(tar: GoTarReader): Promise<void> {
  const { data, error } = await tar.readRest(READ_WHOLE_LIMIT);
  let layout: { imageLayoutVersion: string };
  try {
    layout = decodeAs(decodeFirstJson(data), goTypes.imageLayout) as { imageLayoutVersion: string };
  } catch (decodeError) {
    // The decoder only sees a read error when the value is not complete without what failed to arrive.
    const incomplete = isSentinel(decodeError, 'EOF') || isSentinel(decodeError, 'unexpected EOF');
    const cause = error !== undefined && incomplete ? error : decodeError;
    throw new AceDtError(`error unmarshalling OCI Layout file: ${(cause as Error).message}`);
  }
  if (layout.imageLayoutVersion !== '1.0.0') throw new AceDtError(`error improper imageLayoutVersion: ${layout.imageLayoutVersion}`);
}

/** consumeIndexJSON: io.ReadAll, then json.Unmarshal into ocispec.Index (its errors unwrapped). */
async function consumeIndexJson(tar: GoTarReader) {
  const { data, error } = await tar.readRest(READ_WHOLE_LIMIT);
  if (error !== undefined) throw new AceDtError(`reading index.json: ${error.message}`, (error as AceDtError).sentinel);
  return decodeIndex(unmarshalJson(data));
}

/**
 * consumeBlob: the digest from the name (`blobs/ALG/HEX`); pushed unless the destination has it; a blob known to be
 * a manifest is read whole and verified against its descriptor first (content.ReadAll) and cached; then AddBlob.
 */
async function consumeBlob(
  name: string,
  size: number,
  tar: GoTarReader,
  { tracker, remote, cache }: { tracker: TaggableTracker; remote: Storage; cache: MemoryStore },
): Promise<void> {
  const digest = `${base(dir(name))}:${base(name)}`;
  const blob: GoDescriptor = { mediaType: mediaTypes.octetStream, digest, size, annotations: new Map() };
  const exists = await withContext('checking existence of a blob', () => remote.exists(blob));
  let content: Buffer | undefined;
  const manifest = tracker.knownTaggable(digest);
  if (manifest !== undefined) {
    const data = await withContext('reading data to populate the cache', () => readAllVerified((n) => tar.read(n), manifest));
    await cache.push(manifest, data).catch((error: unknown) => {
      if (!isSentinel(error, 'already exists')) throw wrapf('populating cache with manifest', error);
    });
    content = data;
  }
  if (!exists) {
    if (content === undefined) {
      const { data, error } = await tar.readRest(READ_WHOLE_LIMIT);
      // net/http would put `Put "URL": ` before the cause; the model leaves the URL out.
      if (error !== undefined) throw new AceDtError(`pushing blob: ${error.message}`);
      content = data;
    }
    const body = content;
    await withContext('pushing blob', () => remote.push(blob, body));
  }
  await tracker.addBlob(digest);
}
