import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { extract, pack as createPack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  compressor,
  decompressor,
  detectCompression,
  parseCompression,
  tarSuffix,
  type Compression,
} from '../../src/core/archive/compression.ts';
import { digestHex, sha256 } from '../../src/core/oci/digest.ts';
import { walkGraph, type Graph } from '../../src/core/oci/graph.ts';
import { OciLayout } from '../../src/core/oci/layout.ts';
import { Annotation, MediaType, type Descriptor } from '../../src/core/oci/descriptor.ts';
import { startFileEntry, writeTar, type TarBlob, type TarContents, type TarOptions } from '../../src/core/archive/tar-writer.ts';
import { mergeBlobs, seededBytes, tutorialImages, writeOciLayout, type TutorialImages } from '../../testkit/images.ts';

const run = promisify(execFile);

let dir: string;
let layout: OciLayout;
let images: TutorialImages;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bs-tar-'));
  images = await tutorialImages();
  await writeOciLayout(join(dir, 'layout'), mergeBlobs([images.sources1, images.sources2, images.registry]), [
    { descriptor: images.sources1.root, tag: 'sources1' },
    { descriptor: images.sources2.root, tag: 'sources2' },
    { descriptor: images.registry.root, tag: 'registry' },
  ]);
  layout = new OciLayout(join(dir, 'layout'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const annotations = {
  [Annotation.serializationVersion]: '2',
  [Annotation.layerSizeDeduplicated]: '0',
  [Annotation.toolVersion]: 'batch-serialize test',
};

/** What the serializer hands the writer: the walk of a tagged artifact, its root named by `refName`. */
async function contentsOf(tag: string, refName: string): Promise<{ contents: TarContents; graph: Graph }> {
  const resolved = await layout.resolve(tag);
  const graph = await walkGraph(layout, resolved);
  const root = { ...resolved, annotations: { [Annotation.refName]: refName } };
  const blobs: TarBlob[] = graph.nodes.map(({ descriptor }) => ({ descriptor, open: () => layout.fetchBlob(descriptor) }));
  return { graph, contents: { root, manifests: [root, ...graph.manifests.slice(1)], annotations, blobs } };
}

let counter = 0;
async function write(contents: TarContents, options: TarOptions = { compression: 'none' }) {
  const path = join(dir, `${++counter}${tarSuffix(options.compression)}`);
  return { path, result: await writeTar(path, contents, options) };
}

interface Entry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  size: number;
  body: Buffer;
}

/** Where each header block starts (sizes read as octal: these tars have no PAX). */
function headerOffsets(tar: Buffer): number[] {
  const offsets: number[] = [];
  for (let offset = 0; tar[offset] !== 0;) {
    offsets.push(offset);
    offset += 512 + Math.ceil(parseInt(tar.toString('latin1', offset + 124, offset + 135), 8) / 512) * 512;
  }
  return offsets;
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function entries(tar: Uint8Array): Promise<Entry[]> {
  const found: Entry[] = [];
  const reader = extract();
  const reading = (async () => {
    for await (const entry of reader) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const { name, type, mode, uid, gid, uname, gname, mtime, size } = entry.header;
      found.push({ name, type, mode, uid, gid, uname, gname, mtime: mtime.getTime(), size, body: Buffer.concat(chunks) });
    }
  })();
  reader.end(Buffer.from(tar));
  await reading;
  return found;
}

describe('writeTar', () => {
  test('GNU tar lists the entries docs/formats.md prescribes, in order, with its modes, owners and times', async () => {
    const { contents, graph } = await contentsOf('sources1', 'localhost:5000/gather:sources1');
    const { path } = await write(contents);
    const { stdout } = await run('tar', ['tvf', path], { env: { ...process.env, TZ: 'UTC' } });
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => line.replace(/\s+/g, ' '));
    const file = (size: number, name: string) => `-rw-rw-rw- 0/0 ${size} 1970-01-01 00:00 ${name}`;
    const firstIndex = (await entries(await readFile(path)))[1]!;
    expect(lines).toEqual([
      file(30, 'oci-layout'),
      file(firstIndex.size, 'index.json'),
      'drwxrwxrwx 0/0 0 1970-01-01 00:00 blobs',
      'drwxrwxrwx 0/0 0 1970-01-01 00:00 blobs/sha256',
      ...graph.nodes.map(({ descriptor }) => file(descriptor.size, `blobs/sha256/${digestHex(descriptor.digest)}`)),
      expect.stringMatching(/^-rw-rw-rw- 0\/0 \d+ 1970-01-01 00:00 index\.json$/),
    ]);
    expect(graph.nodes[0]?.descriptor.digest).toBe(images.sources1.root.digest);
  });

  test('reads back: ustar headers, exact index.json bytes, every blob intact', async () => {
    const { contents, graph } = await contentsOf('sources2', 'localhost:5000/gather:sources2');
    const { path, result } = await write(contents);
    const tar = await readFile(path);
    expect(result).toEqual({ bytes: tar.byteLength, sha256: sha256(tar), parts: undefined });
    expect(tar.byteLength % 512).toBe(0);
    expect(tar.subarray(-1024).every((byte) => byte === 0)).toBe(true);
    const magics = new Set(headerOffsets(tar).map((offset) => tar.toString('latin1', offset + 257, offset + 265)));
    expect([...magics]).toEqual(['ustar\u000000']);

    const read = await entries(tar);
    expect(read.map((entry) => [entry.uid, entry.gid, entry.uname, entry.gname, entry.mtime])).toEqual(read.map(() => [0, 0, '', '', 0]));
    expect(read.map((entry) => [entry.name, entry.type, entry.mode.toString(8)])).toEqual([
      ['oci-layout', 'file', '666'],
      ['index.json', 'file', '666'],
      ['blobs', 'directory', '777'],
      ['blobs/sha256', 'directory', '777'],
      ...graph.nodes.map(({ descriptor }) => [`blobs/sha256/${digestHex(descriptor.digest)}`, 'file', '666']),
      ['index.json', 'file', '666'],
    ]);
    expect(read[0]?.body.toString()).toBe('{"imageLayoutVersion":"1.0.0"}');
    const rootJson =
      `{"mediaType":"${MediaType.ociIndex}","digest":"${contents.root.digest}","size":${contents.root.size},` +
      `"annotations":{"org.opencontainers.image.ref.name":"localhost:5000/gather:sources2"}}`;
    const annotationsJson =
      '{"vnd.act3-ace.data.layer.size.deduplicated":"0","vnd.act3-ace.data.serialization.tool":"batch-serialize test",' +
      '"vnd.act3-ace.data.serialization.version":"2"}';
    expect(read[1]?.body.toString()).toBe(
      `{"schemaVersion":2,"mediaType":"${MediaType.ociIndex}","manifests":[${rootJson}],"annotations":${annotationsJson}}`,
    );
    for (const entry of read.slice(4, -1)) {
      expect(sha256(entry.body)).toBe(`sha256:${entry.name.slice('blobs/sha256/'.length)}`);
      expect(entry.body.equals(Buffer.from(images.sources2.blobs.get(sha256(entry.body))!))).toBe(true);
    }
    const finalIndex = JSON.parse(read.at(-1)!.body.toString()) as { manifests: Descriptor[]; annotations: object };
    expect(finalIndex.manifests).toEqual(contents.manifests);
    expect(finalIndex.manifests.map((m) => m.mediaType)).toEqual([
      MediaType.ociIndex, // the gather
      MediaType.dockerManifest, // grafana
      MediaType.ociIndex, // caddy, nested
      MediaType.ociManifest,
      MediaType.ociManifest,
    ]);
    expect(finalIndex.manifests[1]?.annotations?.[Annotation.manifestSource]).toBe('docker.io/grafana/grafana:10.4.1');
    expect(finalIndex.annotations).toEqual(annotations);
  });

  test("extra files go after the closing index.json, where ace-dt's strict reader wants manifest.json", async () => {
    const { contents } = await contentsOf('registry', 'registry');
    const { path } = await write({ ...contents, files: [{ name: 'manifest.json', bytes: Buffer.from('[]') }] });
    const names = (await entries(await readFile(path))).map((entry) => entry.name);
    expect(names.slice(-3)).toEqual([expect.stringMatching(/^blobs\/sha256\//), 'index.json', 'manifest.json']);
  });

  test('the same input gives the same bytes; gzip and zstd wrap that very tar', async () => {
    const { contents } = await contentsOf('sources2', 'localhost:5000/gather:sources2');
    const fresh = async (options: TarOptions) =>
      write({ ...(await contentsOf('sources2', 'localhost:5000/gather:sources2')).contents }, options);
    const plain = await write(contents);
    expect((await fresh({ compression: 'none' })).result.sha256).toBe(plain.result.sha256);
    const tar = await readFile(plain.path);
    for (const [compression, tool] of [
      ['gzip', 'gzip'],
      ['zstd', 'zstd'],
    ] as const) {
      const first = await fresh({ compression });
      const second = await fresh({ compression });
      expect(second.result.sha256).toBe(first.result.sha256);
      const packed = await readFile(first.path);
      expect(detectCompression(packed)).toBe(compression);
      expect(first.result).toEqual({ bytes: packed.byteLength, sha256: sha256(packed), parts: undefined });
      const unpacked = spawnSync(tool, ['-dc', first.path], { maxBuffer: 1 << 26 });
      expect(unpacked.status).toBe(0);
      expect(sha256(unpacked.stdout)).toBe(plain.result.sha256);
    }
    expect(detectCompression(tar)).toBe('none');
    const level1 = await fresh({ compression: 'zstd', level: 1 });
    expect(sha256(spawnSync('zstd', ['-dc', level1.path]).stdout)).toBe(plain.result.sha256);
  });

  test('reports uncompressed blob bytes and streams a blob bigger than every buffer', async () => {
    const size = 8 * 1024 * 1024 + 123;
    const chunk = Buffer.alloc(64 * 1024, 7);
    const bytes = Buffer.concat([Buffer.alloc(size - (size % chunk.length), 7), chunk.subarray(0, size % chunk.length)]);
    const descriptor = { mediaType: 'application/octet-stream', digest: sha256(bytes), size };
    const root = { mediaType: MediaType.ociManifest, digest: sha256('{}'), size: 2 };
    let reported = 0;
    async function* chunks() {
      for (let offset = 0; offset < size; offset += chunk.length) yield bytes.subarray(offset, offset + chunk.length);
    }
    const { path } = await write(
      {
        root,
        manifests: [root],
        annotations,
        blobs: [
          { descriptor: root, open: async () => Readable.from([Buffer.from('{}')]) },
          { descriptor, open: async () => Readable.from(chunks()) },
        ],
      },
      { compression: 'gzip', onBytes: (n) => (reported += n) },
    );
    expect(reported).toBe(size + 2);
    const listed = spawnSync('tar', ['tzvf', path], { encoding: 'utf8' }).stdout;
    expect(listed).toContain(` ${size} `);
  });

  /** A root and one blob of 300,000 seeded bytes, its descriptor claiming `extra` bytes more than its stream brings. */
  const partsContents = (extra = 0): TarContents => {
    const bytes = Buffer.from(seededBytes('parts', 300_000));
    const descriptor = { mediaType: 'application/octet-stream', digest: sha256(bytes), size: bytes.byteLength + extra };
    const root = { mediaType: MediaType.ociManifest, digest: sha256('{}'), size: 2 };
    return {
      root,
      manifests: [root],
      annotations,
      blobs: [
        { descriptor: root, open: async () => Readable.from([Buffer.from('{}')]) },
        { descriptor, open: async () => Readable.from([bytes]) },
      ],
    };
  };

  test('as parts (--max-file-size): each exactly the part size but the last, joined the very tar one file holds', async () => {
    const partBytes = 64 * 1024;
    const contents = () => partsContents();
    for (const compression of ['none', 'zstd'] as const) {
      const whole = await write(contents(), { compression });
      const stem = join(dir, `${++counter}-parts`);
      const target = { partBytes, partPath: (index: number) => `${stem}.part-${index}` };
      const result = await writeTar(target, contents(), { compression });
      const parts = result.parts ?? [];
      expect(parts.length).toBe(Math.ceil(result.bytes / partBytes));
      expect(parts.length).toBeGreaterThan(2);
      const bodies = await Promise.all(parts.map((part) => readFile(part.path)));
      expect(bodies.slice(0, -1).map((body) => body.byteLength)).toEqual(bodies.slice(0, -1).map(() => partBytes));
      expect(parts.map((part) => [part.path, part.bytes, part.sha256])).toEqual(
        bodies.map((body, index) => [target.partPath(index + 1), body.byteLength, sha256(body)]),
      );
      expect(result.sha256).toBe(sha256(Buffer.concat(bodies)));
      expect(result.sha256).toBe(whole.result.sha256);
    }
  });

  test('as parts, a failure removes every part written', async () => {
    const stem = join(dir, `${++counter}-failing`);
    const contents = partsContents(1);
    const target = { partBytes: 64 * 1024, partPath: (index: number) => `${stem}.part-${index}` };
    await expect(writeTar(target, contents, { compression: 'none' })).rejects.toThrow(/source ended after 300000 of/);
    expect(existsSync(target.partPath(1))).toBe(false);
    expect(existsSync(target.partPath(2))).toBe(false);
  });

  describe('failures reject and leave no file behind', () => {
    const data = Buffer.from('0123456789abcdef'.repeat(1000));
    const blob = { mediaType: 'application/octet-stream', digest: sha256(data), size: data.byteLength };
    const root = { mediaType: MediaType.ociManifest, digest: sha256('{}'), size: 2 };
    const withBlob = (open: () => Promise<Readable>): TarContents => ({
      root,
      manifests: [root],
      annotations,
      blobs: [
        { descriptor: root, open: async () => Readable.from([Buffer.from('{}')]) },
        { descriptor: blob, open },
      ],
    });
    const expectFailure = async (contents: TarContents, message: RegExp, compression: Compression = 'none') => {
      const path = join(dir, `failing-${++counter}.tar`);
      await expect(writeTar(path, contents, { compression })).rejects.toThrow(message);
      expect(existsSync(path)).toBe(false);
    };

    test('a source shorter than its descriptor', async () => {
      await expectFailure(
        withBlob(async () => Readable.from([data.subarray(0, 1000)])),
        new RegExp(`${blob.digest}: source ended after 1000 of the 16000 bytes`),
      );
    });

    test('a source longer than its descriptor', async () => {
      await expectFailure(
        withBlob(async () => Readable.from([data, Buffer.from('x')])),
        new RegExp(`${blob.digest}: source gave more than the 16000 bytes`),
        'zstd',
      );
    });

    test('a source failing mid-way', async () => {
      async function* failing() {
        yield data.subarray(0, 5000);
        throw new Error('connection reset by peer');
      }
      await expectFailure(
        withBlob(async () => Readable.from(failing())),
        /connection reset by peer/,
        'gzip',
      );
    });

    test('a source that cannot be opened', async () => {
      await expectFailure(
        withBlob(() => Promise.reject(new Error('registry said 404'))),
        /registry said 404/,
      );
    });

    test('a corrupted blob in a layout', async () => {
      const copy = join(dir, 'corrupt');
      await writeOciLayout(copy, images.registry.blobs, [{ descriptor: images.registry.root, tag: 'registry' }]);
      const corrupted = new OciLayout(copy);
      const resolved = await corrupted.resolve('registry');
      const graph = await walkGraph(corrupted, resolved);
      const layer = graph.nodes.at(-1)!.descriptor;
      const file = join(copy, 'blobs', 'sha256', digestHex(layer.digest));
      const bytes = await readFile(file);
      bytes[100] = bytes[100]! ^ 0xff;
      await writeFile(file, bytes);
      const root = { ...resolved, annotations: { [Annotation.refName]: 'registry' } };
      await expectFailure(
        {
          root,
          manifests: [root],
          annotations,
          blobs: graph.nodes.map(({ descriptor }) => ({ descriptor, open: () => corrupted.fetchBlob(descriptor) })),
        },
        new RegExp(`${layer.digest}: content does not match its descriptor`),
      );
    });

    test('the file system refusing a write (EFBIG under ulimit -f)', async () => {
      const script = join(dir, 'efbig.ts');
      const path = join(dir, 'efbig.tar');
      const writer = new URL('../../src/core/archive/tar-writer.ts', import.meta.url).href;
      await writeFile(
        script,
        [
          `import { Readable } from 'node:stream';`,
          `import { existsSync } from 'node:fs';`,
          `import { writeTar } from ${JSON.stringify(writer)};`,
          `process.on('SIGXFSZ', () => {});`,
          `const contents = ${JSON.stringify({ root, manifests: [root], annotations })};`,
          `const body = (text) => async () => Readable.from([Buffer.from(text)]);`,
          `contents.blobs = [{ descriptor: contents.root, open: body('{}') },`,
          `  { descriptor: ${JSON.stringify(blob)}, open: body(${JSON.stringify(data.toString())}) }];`,
          `await writeTar(${JSON.stringify(path)}, contents, { compression: 'none' })`,
          `  .catch((e) => console.log(e.message, existsSync(${JSON.stringify(path)})));`,
        ].join('\n'),
      );
      // a few KiB allowed (the unit depends on the shell): the blob's 16000 bytes cannot fit
      const child = spawnSync('sh', ['-c', 'ulimit -f 8; exec "$0" "$1"', process.execPath, script], { encoding: 'utf8' });
      expect(child.stderr).toBe('');
      expect(child.stdout).toBe('EFBIG: file too large, write false\n');
    });

    test('a digest listed twice', async () => {
      const { contents } = await contentsOf('registry', 'registry');
      const blobs = [...(contents.blobs as TarBlob[])];
      await expectFailure({ ...contents, blobs: [...blobs, blobs[1]!] }, /is listed twice/);
    });

    test('an existing destination is neither overwritten nor removed', async () => {
      const { contents } = await contentsOf('registry', 'registry');
      const path = join(dir, 'existing.tar');
      await writeFile(path, 'keep me');
      await expect(writeTar(path, contents, { compression: 'none' })).rejects.toThrow(/EEXIST/);
      expect(await readFile(path, 'utf8')).toBe('keep me');
    });

    test('a destination that cannot be written', async () => {
      const { contents } = await contentsOf('registry', 'registry');
      await expect(writeTar(join(dir, 'no-such-dir', 'x.tar'), contents, { compression: 'none' })).rejects.toThrow(/ENOENT/);
    });
  });
});

describe('standard clients read the tar', () => {
  test('skopeo finds the artifact by its ref.name and copies all of it', async () => {
    const reference = 'localhost:5000/gather:sources1';
    const { path } = await write((await contentsOf('sources1', reference)).contents);
    const raw = await run('skopeo', ['inspect', '--raw', `oci-archive:${path}:${reference}`], { encoding: 'buffer' });
    expect(sha256(raw.stdout)).toBe(images.sources1.root.digest);
    const nested = (await write((await contentsOf('sources2', 'localhost:5000/gather:sources2')).contents)).path;
    const rawNested = await run('skopeo', ['inspect', '--raw', `oci-archive:${nested}:localhost:5000/gather:sources2`], {
      encoding: 'buffer',
    });
    expect(sha256(rawNested.stdout)).toBe(images.sources2.root.digest);
    // skopeo 1.9 copies no index of indexes, so the copy is of sources1 (OCI and Docker manifests)
    const copy = join(dir, 'skopeo-copy');
    await run('skopeo', ['copy', '--all', '--quiet', `oci-archive:${path}:${reference}`, `oci:${copy}:copied`]);
    const index = JSON.parse(await readFile(join(copy, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    expect(index.manifests).toHaveLength(1);
  });

  test('umoci unpacks a single-platform image from a full tar', async () => {
    const { path } = await write((await contentsOf('registry', 'registry')).contents, { compression: 'zstd' });
    const unpacked = join(dir, 'umoci-layout');
    await mkdir(unpacked);
    const tar = spawnSync('sh', ['-c', 'zstd -dc "$0" | tar xf - -C "$1"', path, unpacked]);
    expect(tar.status).toBe(0);
    const bundle = join(dir, 'bundle');
    await run('umoci', ['unpack', '--rootless', '--image', `${unpacked}:registry`, bundle]);
    const file = await readFile(join(bundle, 'rootfs', 'data', 'registry_linux_amd64_0.bin'));
    expect(file.byteLength).toBe(6000);
  });
});

describe('sizes past the ustar limit', () => {
  /** The first bytes tar-stream produces for a file entry of `size`, without writing its body. */
  async function headBytes(size: number): Promise<Buffer> {
    const pack = createPack();
    const { sink, done } = startFileEntry(pack, `blobs/sha256/${'a'.repeat(64)}`, size);
    done.catch(() => undefined);
    sink.write(Buffer.alloc(2048));
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of pack) {
      chunks.push(chunk as Buffer);
      total += (chunk as Buffer).byteLength;
      if (total >= 2048) break;
    }
    pack.destroy();
    return Buffer.concat(chunks);
  }

  test('8 GiB - 1 fits a plain ustar header', async () => {
    const head = await headBytes(8 * 1024 ** 3 - 1);
    expect(head.toString('latin1', 0, 77)).toBe(`blobs/sha256/${'a'.repeat(64)}`);
    expect(String.fromCharCode(head[156]!)).toBe('0');
    expect(head.toString('latin1', 124, 135)).toBe('77777777777');
  });

  test('8 GiB and more get a PAX size record that GNU tar and tar-stream honour', async () => {
    const size = 8 * 1024 ** 3;
    const head = await headBytes(size);
    const name = `blobs/sha256/${'a'.repeat(64)}`;
    expect(String.fromCharCode(head[156]!)).toBe('x');
    expect(head.toString('latin1', 512, 1024).replace(/\0+$/, '')).toBe(`86 path=${name}\n19 size=${size}\n`);
    expect(String.fromCharCode(head[1024 + 156]!)).toBe('0');
    expect(head.toString('latin1', 1024 + 257, 1024 + 265)).toBe('ustar\u000000');

    // GNU tar lists the entry, then stops at the missing body
    const listed = spawnSync('tar', ['tvf', '-'], { input: head, encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    expect(listed.stdout.replace(/\s+/g, ' ').trim()).toBe(`-rw-rw-rw- 0/0 ${size} 1970-01-01 00:00 blobs/sha256/${'a'.repeat(64)}`);

    const reader = extract();
    const header = new Promise<{ name: string; size: number }>((resolve) => reader.once('entry', (h) => resolve(h)));
    reader.write(head);
    expect(await header).toMatchObject({ name: `blobs/sha256/${'a'.repeat(64)}`, size });
    reader.destroy();
  });
});

describe('compression names', () => {
  test('parse, suffixes and errors', () => {
    expect(parseCompression('zstd')).toBe('zstd');
    expect(parseCompression(' GZIP ')).toBe('gzip');
    expect(() => parseCompression('bzip2')).toThrow('unknown compression "bzip2" (allowed: none, gzip, zstd)');
    expect(['none', 'gzip', 'zstd'].map((c) => tarSuffix(c as Compression))).toEqual(['.tar', '.tar.gz', '.tar.zst']);
  });

  test('what compressor packs, decompressor unpacks, and detectCompression knows which', async () => {
    const data = Buffer.from(seededBytes('round trip', 100_000));
    for (const compression of ['gzip', 'zstd'] as const) {
      const packed = await collect(Readable.from([data]).pipe(compressor(compression, 3)!));
      expect(detectCompression(packed)).toBe(compression);
      expect((await collect(Readable.from([packed]).pipe(decompressor(compression)!))).equals(data)).toBe(true);
    }
    expect(compressor('none')).toBeUndefined();
    expect(decompressor('none')).toBeUndefined();
  });
});
