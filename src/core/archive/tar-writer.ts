import { open, rm } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as createPack, type Header, type Pack } from 'tar-stream';
import type { Compression } from './compression.ts';
import { assertDigest, digestHex } from '../oci/digest.ts';
import { fileSink, partsSink, type PartsSink } from './file-sink.ts';
import type { PartFile, VolumeTarget } from './part-writer.ts';
import { MediaType, type Descriptor } from '../oci/descriptor.ts';
import { OCI_LAYOUT_FILE } from '../oci/layout.ts';

/** One blob to write; its stream is verified against the descriptor by whoever opens it. */
export interface TarBlob {
  descriptor: Descriptor;
  open(): Promise<Readable>;
}

export interface TarContents {
  /** Already carries the org.opencontainers.image.ref.name annotation. */
  root: Descriptor;
  /** Every manifest met in the walk, walk order, unique, root first. */
  manifests: Descriptor[];
  /** index.json annotations (serialization version, deduplicated size, tool, dedup scope). */
  annotations: Record<string, string>;
  /** In tar order, each digest once; consumed sequentially. */
  blobs: AsyncIterable<TarBlob> | Iterable<TarBlob>;
  /** Small extra files (ace-dt's manifest.json), written after the closing index.json, where ace-dt writes it. */
  files?: Array<{ name: string; bytes: Uint8Array }>;
}

/** `bytes` and `sha256` describe the file as written, after compression (all its parts, joined, for a volume set). */
export interface TarResult {
  bytes: number;
  sha256: string;
  /** Written to a VolumeTarget: its parts in order (one or more). */
  parts: PartFile[] | undefined;
}

export interface TarOptions {
  compression: Compression;
  level?: number;
  /** Uncompressed blob bytes as they pass, for progress. */
  onBytes?: (n: number) => void;
}

type Sink = ReturnType<Pack['entry']>;

const FILE_MODE = 0o666;
const DIRECTORY_MODE = 0o777;
const EPOCH = new Date(0);
/** The largest size a ustar header holds in its 11 octal digits (8 GiB - 1). */
const USTAR_MAX_SIZE = 0o77777777777;

/**
 * Writes one OCI image layout as a tar (docs/formats.md, "Tar layout") to `output`, a path that must not exist yet,
 * or a set of part files (part-writer.ts). Every file is fsynced before this resolves; on any failure all are removed
 * and the failure's cause is thrown. Blobs stream through one at a time with backpressure: no blob is ever held whole
 * in memory.
 */
export async function writeTar(output: string | VolumeTarget, contents: TarContents, options: TarOptions): Promise<TarResult> {
  const what = typeof output === 'string' ? output : output.partPath(1);
  if (contents.manifests[0]?.digest !== contents.root.digest) {
    throw new Error(`tar ${what}: the manifests list must start with the root ${contents.root.digest}`);
  }
  const firstIndex = indexJson([contents.root], contents.annotations);
  const pack = createPack();
  pack.on('error', ignore); // what destroys it reaches us through the pipeline and the entries
  const abort = new AbortController();
  const tearDown = (error: unknown): never => {
    if (!abort.signal.aborted) {
      abort.abort(error);
      pack.destroy(error instanceof Error ? error : new Error(String(error)));
    }
    throw error;
  };

  const sinkOptions = { compression: options.compression, level: options.level, expectedBytes: blobBytes(contents.blobs) };
  const handle = typeof output === 'string' ? await open(output, 'wx') : undefined;
  const sink = handle === undefined ? partsSink(output as VolumeTarget, sinkOptions) : fileSink(handle, sinkOptions);
  const source = Readable.from(pack, { objectMode: false });
  const flowing = pipeline(source, ...sink.stages);
  const [flowed, filled] = await Promise.allSettled([
    flowing.catch(tearDown),
    fillPack(pack, contents, firstIndex, options.onBytes, abort.signal).catch(tearDown),
  ]);
  const failure = rootCause(flowed, filled);
  if (failure !== undefined) {
    await handle?.close(); // a no-op unless the stream never got to close it
    if (typeof output === 'string') await rm(output, { force: true });
    else await (sink as PartsSink).remove();
    throw failure.error;
  }
  await handle?.close();
  return { ...sink.written(), parts: handle === undefined ? (sink as PartsSink).parts() : undefined };
}

/** The blobs' total size when it is known ahead; 0 (the small case) when they come one by one. */
function blobBytes(blobs: TarContents['blobs']): number {
  return Array.isArray(blobs) ? (blobs as TarBlob[]).reduce((sum, blob) => sum + blob.descriptor.size, 0) : 0;
}

/**
 * When one side fails the other fails too, in an order streams do not promise: a stream error that is not
 * the echo of the producer's own error (or of the tear-down) is the cause, else the producer's error is.
 */
function rootCause(flowed: PromiseSettledResult<void>, filled: PromiseSettledResult<void>): { error: unknown } | undefined {
  if (flowed.status === 'rejected') {
    const echo = filled.status === 'rejected' && (flowed.reason === filled.reason || isTearDownError(flowed.reason));
    return { error: echo ? filled.reason : flowed.reason };
  }
  return filled.status === 'rejected' ? { error: filled.reason } : undefined;
}

function isTearDownError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (error as Error | null)?.name === 'AbortError' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}

async function fillPack(
  pack: Pack,
  contents: TarContents,
  firstIndex: Buffer,
  onBytes: ((n: number) => void) | undefined,
  signal: AbortSignal,
): Promise<void> {
  await addBytes(pack, 'oci-layout', Buffer.from(OCI_LAYOUT_FILE));
  await addBytes(pack, 'index.json', firstIndex);
  // tar-stream 3 writes directory names as given (its trailing-slash rule tests a field it never sets), so
  // these come out bare as docs/formats.md wants; the tar tests pin that.
  for (const name of ['blobs', 'blobs/sha256']) {
    await startEntry(pack, { name, type: 'directory', mode: DIRECTORY_MODE, mtime: EPOCH }).done;
  }
  const written = new Set<string>();
  for await (const blob of contents.blobs) {
    signal.throwIfAborted();
    const digest = assertDigest(blob.descriptor.digest, 'tar blob');
    if (written.has(digest)) throw new Error(`blob ${digest} is listed twice for one tar`);
    written.add(digest);
    await addBlob(pack, blob, onBytes, signal);
  }
  await addBytes(pack, 'index.json', indexJson(contents.manifests, contents.annotations));
  for (const file of contents.files ?? []) await addBytes(pack, file.name, file.bytes);
  pack.finalize();
}

/**
 * Copies one blob into its entry through a pipeline, which reads in flowing mode: chunk by chunk as they came
 * (async iteration would join everything a prefetched stream holds into one buffer per read).
 */
async function addBlob(pack: Pack, blob: TarBlob, onBytes: ((n: number) => void) | undefined, signal: AbortSignal): Promise<void> {
  const { digest, size } = blob.descriptor;
  const what = `blob ${digest}`;
  const source = await blob.open();
  const { sink, done } = startFileEntry(pack, `blobs/sha256/${digestHex(digest)}`, size);
  done.catch(() => undefined); // awaited below; a failure meanwhile reaches the copy through the race in write()
  let written = 0;
  const into = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      written += chunk.byteLength;
      if (written > size) return callback(new Error(`${what}: source gave more than the ${size} bytes its descriptor says`));
      onBytes?.(chunk.byteLength);
      if (sink.write(chunk)) callback();
      else Promise.race([drained(sink), done]).then(() => callback(), callback);
    },
    final(callback) {
      callback(written < size ? new Error(`${what}: source ended after ${written} of the ${size} bytes its descriptor says`) : null);
    },
  });
  await pipeline(source, into, { signal });
  sink.end(null); // streamx types want an argument; null adds nothing
  await done;
}

/**
 * Starts a file entry whose body the caller writes to `sink`. Past the ustar size limit tar-stream alone would
 * write a GNU base-256 size; asking it for PAX gives an extended header with `path` and `size` records, which
 * PAX readers (GNU tar, Go, libarchive) take over the ustar fields (tar-stream names that header `PaxHeader`).
 */
export function startFileEntry(pack: Pack, name: string, size: number): { sink: Sink; done: Promise<void> } {
  const pax = size > USTAR_MAX_SIZE ? { pax: { size: String(size) } } : {};
  return startEntry(pack, { name, size, mode: FILE_MODE, mtime: EPOCH, ...pax });
}

function addBytes(pack: Pack, name: string, body: Uint8Array): Promise<void> {
  return startEntry(pack, { name, mode: FILE_MODE, mtime: EPOCH }, body).done;
}

/** An entry's outcome, through `done` only: tar-stream also emits a failure as an 'error' nobody needs to hear. */
function startEntry(pack: Pack, header: Partial<Header> & { name: string }, body?: Uint8Array): { sink: Sink; done: Promise<void> } {
  let sink: Sink | undefined;
  const done = new Promise<void>((resolve, reject) => {
    const callback = (error?: Error | null) => (error ? reject(error) : resolve());
    sink = body === undefined ? pack.entry(header, callback) : pack.entry(header, body, callback);
  });
  (sink as Sink).on('error', ignore);
  return { sink: sink as Sink, done };
}

function ignore(): void {}

/** Resolves when the entry takes more bytes; rejects when the tar stream is torn down instead. */
function drained(sink: Sink): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      sink.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      sink.off('drain', onDrain);
      reject(new Error('tar stream closed while a blob was being written'));
    };
    sink.once('drain', onDrain);
    sink.once('close', onClose);
  });
}

/**
 * index.json as compact JSON in Go's field order (ocispec's structs, as ace-dt emits them; ace-dt also indents, which
 * no reader needs) and sorted annotation keys, so the same content always gives the same bytes.
 */
export function indexJson(manifests: Descriptor[], annotations: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: manifests.map(descriptorInGoOrder),
      annotations: sortedRecord(annotations),
    }),
  );
}

const DESCRIPTOR_ORDER = ['mediaType', 'digest', 'size', 'urls', 'annotations', 'data', 'platform', 'artifactType'];
const PLATFORM_ORDER = ['architecture', 'os', 'os.version', 'os.features', 'variant'];

function descriptorInGoOrder(descriptor: Descriptor): Record<string, unknown> {
  const ordered = inOrder(descriptor as unknown as Record<string, unknown>, DESCRIPTOR_ORDER);
  if (descriptor.annotations) ordered.annotations = sortedRecord(descriptor.annotations);
  if (descriptor.platform) ordered.platform = inOrder(descriptor.platform as unknown as Record<string, unknown>, PLATFORM_ORDER);
  return ordered;
}

/** Known keys in the given order, then any others as they came: nothing a source wrote is dropped. */
function inOrder(object: Record<string, unknown>, order: string[]): Record<string, unknown> {
  const keys = [...order.filter((key) => key in object), ...Object.keys(object).filter((key) => !order.includes(key))];
  return Object.fromEntries(keys.map((key) => [key, object[key]]));
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
