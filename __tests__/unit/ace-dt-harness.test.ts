/**
 * The ace-dt model (testkit/ace-dt) on hand-made sync directories: it must refuse what ace-dt's code refuses,
 * with ace-dt's text, and load what ace-dt loads. Tars are made here with tar-stream, not by our writer.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { successors } from '../../src/core/oci/graph.ts';
import { isManifest, type Descriptor } from '../../src/core/oci/descriptor.ts';
import { batchDeserialize } from '../../testkit/ace-dt/batch-deserialize.ts';
import { deserialize } from '../../testkit/ace-dt/deserialize.ts';
import { DestinationRepository } from '../../testkit/ace-dt/registry.ts';
import { readTrackerAsAceDt } from '../../testkit/ace-dt/tracker.ts';
import { layersOf, makeImage, tutorialImages, type ImageSet, type TutorialImages } from '../../testkit/images.ts';

const DEST = 'far.example:5000/mirror';
const EXPECTS = 'Batch Deserialize expects tar files with an int-name format, e.g., 0-image1, 1-image2, etc';
const REF = 'localhost:5000/gather:sources1';
let work: string;
let images: TutorialImages;
/** sources2 gathered with ace-dt's --index-fallback: the caddy index is only in the extra-manifests annotation. */
let fallback: ImageSet;
let dirs = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bs-acedt-model-'));
  images = await tutorialImages();
  fallback = (await tutorialImages({ indexFallback: true })).sources2;
});
afterAll(() => rm(work, { recursive: true, force: true }));

interface Entry {
  name: string;
  /** Absent: a directory. */
  content?: string | Uint8Array;
}

interface LayoutOptions {
  leaveOut?: ReadonlySet<string>;
  annotations?: Record<string, string>;
  /** The closing index.json (default true). */
  closing?: boolean;
}

/** The tar layout of docs/formats.md for `set`: oci-layout, index.json, blobs parent first, index.json again. */
function layout(set: ImageSet, options: LayoutOptions = {}): Entry[] {
  const order: Descriptor[] = [];
  const visit = (d: Descriptor) => {
    if (order.some((seen) => seen.digest === d.digest)) return;
    order.push(d);
    if (isManifest(d.mediaType)) for (const child of successors(set.blobs.get(d.digest) as Uint8Array, d.digest)) visit(child);
  };
  visit(set.root);
  const root = { ...set.root, annotations: { 'org.opencontainers.image.ref.name': REF } };
  const annotations = {
    'vnd.act3-ace.data.serialization.version': '2',
    'vnd.act3-ace.data.layer.size.deduplicated': '0',
    ...options.annotations,
  };
  const index = (manifests: Descriptor[]) =>
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests, annotations });
  const manifests = order.filter((d) => isManifest(d.mediaType));
  return [
    { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
    { name: 'index.json', content: index([root]) },
    { name: 'blobs' },
    { name: 'blobs/sha256' },
    ...order
      .filter((d) => isManifest(d.mediaType) || !options.leaveOut?.has(d.digest))
      .map((d) => ({ name: `blobs/sha256/${d.digest.slice('sha256:'.length)}`, content: set.blobs.get(d.digest) as Uint8Array })),
    ...(options.closing === false ? [] : [{ name: 'index.json', content: index([root, ...manifests.slice(1)]) }]),
  ];
}

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const packer = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer);
  })();
  for (const { name, content } of entries) {
    const header = { name, mtime: new Date(0), uid: 0, gid: 0 };
    if (content === undefined) packer.entry({ ...header, type: 'directory', mode: 0o777 });
    else packer.entry({ ...header, mode: 0o666 }, Buffer.from(content));
  }
  packer.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A fresh sync directory holding these files (a Buffer, a text, or `null` for a directory). */
async function syncDir(files: Record<string, Buffer | string | null>): Promise<string> {
  const dir = join(work, `sync-${++dirs}`);
  await mkdir(dir);
  for (const [name, content] of Object.entries(files)) {
    if (content === null) await mkdir(join(dir, name));
    else await writeFile(join(dir, name), content);
  }
  return dir;
}

/** ace-dt's batch-deserialize into DEST: the tars it loaded, or where it stopped and what it said. */
async function aceDt(dir: string): Promise<{ loaded: string[] } | { entry: string | undefined; error: string }> {
  try {
    return { loaded: (await batchDeserialize({ syncDir: dir, destination: DEST })).loaded.map((tar) => tar.file) };
  } catch (error) {
    return { entry: (error as { entry?: string }).entry, error: (error as Error).message };
  }
}

async function strict(entries: Entry[]): Promise<string> {
  const dir = await syncDir({ '000001-tools.tar': await tarOf(entries) });
  const root = await deserialize({ file: join(dir, '000001-tools.tar'), destination: new DestinationRepository(DEST), strict: true });
  return root.digest;
}

const layerDigests = (set: ImageSet) => new Set(layersOf(set).map((layer) => layer.digest));

describe("batch-deserialize's directory loop", () => {
  test('loads every file but .csv files and directories, in name order, into DEST:NAME, one repository for all', async () => {
    const image = await makeImage('other');
    const dir = await syncDir({
      '000001-tools.tar': await tarOf(layout(images.sources1)),
      '000002-tools.tar.gz': gzipSync(await tarOf(layout(images.sources2, { leaveOut: layerDigests(images.sources1) }))),
      '000003-other.tar.zst': zstdCompressSync(await tarOf(layout(image))),
      'record-keeping.csv': 'sync_name,artifact,digest\n',
      'moved-aside': null,
    });
    const result = await batchDeserialize({ syncDir: dir, destination: DEST });
    expect(result.loaded.map(({ file, reference, root }) => [file, reference, root.digest])).toEqual([
      ['000001-tools.tar', `${DEST}:tools`, images.sources1.root.digest],
      ['000002-tools.tar.gz', `${DEST}:tools`, images.sources2.root.digest],
      ['000003-other.tar.zst', `${DEST}:other`, image.root.digest],
    ]);
    for (const set of [images.sources1, images.sources2, image]) {
      expect(result.repository.manifestDigests()).toContain(set.root.digest);
      for (const digest of set.blobs.keys()) expect(result.repository.blobDigests()).toContain(digest);
    }
  });

  test('a tar recorded in successful-syncs.csv (ours: filename,artifact,timestamp) is skipped', async () => {
    const dir = await syncDir({
      '000001-tools.tar': await tarOf(layout(images.sources1)),
      '000002-tools.tar': await tarOf(layout(images.sources2)),
      'successful-syncs.csv':
        'filename,artifact,timestamp\n000001-tools.tar,far.example:5000/mirror/tools:sources1,2025-01-27T21:16:03.512Z\n',
    });
    const result = await batchDeserialize({ syncDir: dir, destination: DEST });
    expect(result.skipped).toEqual(['000001-tools.tar']);
    expect(result.loaded.map((tar) => tar.file)).toEqual(['000002-tools.tar']);
  });

  test('a successful-syncs file whose rows are not all as wide as the first stops the run (encoding/csv)', async () => {
    const dir = await syncDir({ 'successful-syncs.csv': 'filename,timestamp\n000001-tools.tar,now,extra\n' });
    expect(await aceDt(dir)).toEqual({ entry: undefined, error: 'reading successful sync file: record on line 2: wrong number of fields' });
  });

  test('a name with two "-" stops the run, after the tars before it', async () => {
    const tar = await tarOf(layout(images.sources1));
    const dir = await syncDir({ '000001-tools.tar': tar, '000002-my-tools.tar': tar, '000003-tools.tar': tar });
    expect(await aceDt(dir)).toEqual({
      entry: '000002-my-tools.tar',
      error: `unexpected file name 000002-my-tools.tar. ${EXPECTS}`,
    });
  });

  test.each([
    [
      'a sidecar (one sha256sum line)',
      '000001-tools.tar.sha256',
      `${'a'.repeat(64)}  000001-tools.tar\n`,
      'error getting tar header: unexpected EOF',
    ],
    [
      'a ledger (JSON lines)',
      'record-keeping.ledger.jsonl',
      `${JSON.stringify({ syncName: '000001-tools.tar', blobs: Array.from({ length: 60 }, (_, size) => ({ size })) })}\n`,
      'error getting tar header: archive/tar: invalid tar header',
    ],
    ['an empty file', '000002-tools.tar', '', 'missing "index.json" file'],
  ])('a file that is not a tar is taken for one and stops the run: %s', async (_, name, content, error) => {
    const dir = await syncDir({ '000001-tools.tar': await tarOf(layout(images.sources1)), [name]: content });
    expect(await aceDt(dir)).toEqual({ entry: name, error });
  });

  test('a lock file ending in .csv is passed over (ours is batch-serialize.lock.csv for that reason)', async () => {
    const dir = await syncDir({ '000001-tools.tar': await tarOf(layout(images.sources1)), 'batch-serialize.lock.csv': 'pid,host\n1,h\n' });
    expect(await aceDt(dir)).toEqual({ loaded: ['000001-tools.tar'] });
  });
});

// MissingBlobs() counts every digest the tracker still waits for: the blobs, and the manifests waiting on them.
describe('missing blobs: counted at each index.json and at the end', () => {
  test('a blob the graph needs and the destination lacks: refused at the closing index.json', async () => {
    const layer = layersOf(images.sources1)[0] as Descriptor;
    const dir = await syncDir({ '000001-tools.tar': await tarOf(layout(images.sources1, { leaveOut: new Set([layer.digest]) })) });
    expect(await aceDt(dir)).toEqual({
      entry: '000001-tools.tar',
      error: 'expected 0 missing blobs when processing an index.json file, but found 2', // the layer and its image
    });
  });

  test('without a closing index.json, refused at the end', async () => {
    const leaveOut = new Set(
      layersOf(images.sources1)
        .slice(0, 2)
        .map((layer) => layer.digest),
    );
    const dir = await syncDir({ '000001-tools.tar': await tarOf(layout(images.sources1, { leaveOut, closing: false })) });
    // Two layers of the registry image, and its manifest.
    expect(await aceDt(dir)).toEqual({ entry: '000001-tools.tar', error: '3 missing blobs' });
  });

  test('blobs left out because an earlier tar shipped them: loaded after that tar, refused without it', async () => {
    const second = await tarOf(layout(images.sources2, { leaveOut: layerDigests(images.sources1) }));
    const both = await syncDir({ '000001-tools.tar': await tarOf(layout(images.sources1)), '000002-tools.tar': second });
    expect(await aceDt(both)).toEqual({ loaded: ['000001-tools.tar', '000002-tools.tar'] });
    const alone = await syncDir({ '000002-tools.tar': second });
    const shared = [...layerDigests(images.sources2)].filter((digest) => layerDigests(images.sources1).has(digest));
    expect(await aceDt(alone)).toEqual({
      entry: '000002-tools.tar',
      // grafana's layers, and grafana's manifest
      error: `expected 0 missing blobs when processing an index.json file, but found ${shared.length + 1}`,
    });
  });

  test('extra-manifests are followed: a blob of an index named only there counts', async () => {
    const caddyBase = layersOf(images.caddy)[0] as Descriptor;
    expect(await aceDt(await syncDir({ '000001-tools.tar': await tarOf(layout(fallback)) }))).toEqual({ loaded: ['000001-tools.tar'] });
    const dir = await syncDir({ '000001-tools.tar': await tarOf(layout(fallback, { leaveOut: new Set([caddyBase.digest]) })) });
    expect(await aceDt(dir)).toEqual({
      entry: '000001-tools.tar',
      // the base layer, the two caddy images sharing it, and the caddy index (named only in extra-manifests)
      error: 'expected 0 missing blobs when processing an index.json file, but found 4',
    });
  });
});

describe('the deduplicated-size annotation goes through strconv.Atoi', () => {
  test.each([
    ['12 ', 'getting the total deduplicated size: strconv.Atoi: parsing "12 ": invalid syntax'],
    ['1e3', 'getting the total deduplicated size: strconv.Atoi: parsing "1e3": invalid syntax'],
    ['9223372036854775808', 'getting the total deduplicated size: strconv.Atoi: parsing "9223372036854775808": value out of range'],
    ['\t7', 'getting the total deduplicated size: strconv.Atoi: parsing "\\t7": invalid syntax'],
  ])('%j is refused', async (value, error) => {
    const dir = await syncDir({
      '000001-tools.tar': await tarOf(layout(images.sources1, { annotations: { 'vnd.act3-ace.data.layer.size.deduplicated': value } })),
    });
    expect(await aceDt(dir)).toEqual({ entry: '000001-tools.tar', error });
  });

  test.each(['', '0', '+42', '-1', '9223372036854775807'])('%j is taken', async (value) => {
    const dir = await syncDir({
      '000001-tools.tar': await tarOf(layout(images.sources1, { annotations: { 'vnd.act3-ace.data.layer.size.deduplicated': value } })),
    });
    expect(await aceDt(dir)).toEqual({ loaded: ['000001-tools.tar'] });
  });
});

describe('the strict reader (mirror deserialize --strict) and the lenient one (batch-deserialize)', () => {
  test('our layout passes both', async () => {
    expect(await strict(layout(images.sources2))).toBe(images.sources2.root.digest);
  });

  test.each([
    [
      'a manifest.json',
      (entries: Entry[]) => [...entries.slice(0, -1), { name: 'manifest.json', content: '[]' }, ...entries.slice(-1)],
      'unexpected file "manifest.json"',
    ],
    ['names with ./', (entries: Entry[]) => entries.map((e) => ({ ...e, name: `./${e.name}` })), 'unexpected file "./oci-layout"'],
    [
      'a third index.json',
      (entries: Entry[]) => [...entries, entries.at(-1) as Entry],
      'expected 2 index.json files in Strict mode but received 3',
    ],
    [
      'index.json before oci-layout',
      (entries: Entry[]) => [entries[1] as Entry, entries[0] as Entry, ...entries.slice(2)],
      'expected the second file to be named "index.json"',
    ],
  ])('%s: refused when strict, loaded when lenient', async (_, change, error) => {
    const entries = change(layout(images.sources1));
    await expect(strict(entries)).rejects.toThrow(error);
    expect(await aceDt(await syncDir({ '000001-tools.tar': await tarOf(entries) }))).toEqual({ loaded: ['000001-tools.tar'] });
  });
});

describe('oci-layout and index.json as encoding/json decodes them', () => {
  const replaced = (name: string, content: string) => (entries: Entry[]) =>
    entries.map((entry, i) => (entry.name === name && i < 2 ? { name, content } : entry));
  const manifests = (size: unknown) =>
    JSON.stringify({ manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: 'sha256:aa', size }] });

  test.each([
    ['a layout version not 1.0.0', replaced('oci-layout', '{"imageLayoutVersion":"1.1.0"}'), 'error improper imageLayoutVersion: 1.1.0'],
    ['an oci-layout cut short', replaced('oci-layout', '{"imageLayoutVersion":'), 'error unmarshalling OCI Layout file: unexpected EOF'],
    ['an index.json that is not JSON', replaced('index.json', '{"manifests": [}'), "invalid character '}' looking for beginning of value"],
    ['an index.json with more after it', replaced('index.json', '{} {}'), "invalid character '{' after top-level value"],
    [
      'a size that is a string',
      replaced('index.json', manifests('12')),
      'json: cannot unmarshal string into Go struct field Descriptor.manifests.size of type int64',
    ],
    [
      'a size that is a fraction',
      replaced('index.json', manifests(1.5)),
      'json: cannot unmarshal number 1.5 into Go struct field Descriptor.manifests.size of type int64',
    ],
    [
      'an index.json listing nothing',
      replaced('index.json', '{"manifests":[]}'),
      'multiple manifests in index.json, but no manifest with org.opencontainers.image.ref.name was set',
    ],
  ])('%s', async (_, change, error) => {
    expect(await aceDt(await syncDir({ '000001-tools.tar': await tarOf(change(layout(images.sources1))) }))).toEqual({
      entry: '000001-tools.tar',
      error,
    });
  });

  test('field names match case-insensitively and a layout version after the first value is not read, as in Go', async () => {
    const entries = replaced('oci-layout', '{"ImageLayoutVersion":"1.0.0"} trailing')(layout(images.sources1));
    expect(await aceDt(await syncDir({ '000001-tools.tar': await tarOf(entries) }))).toEqual({ loaded: ['000001-tools.tar'] });
  });
});

describe("archive/tar's reading", () => {
  test('a tar without its end-of-archive blocks is read to its end, as Go reads it', async () => {
    const tar = await tarOf(layout(images.sources1));
    expect(tar.subarray(-1024).every((byte) => byte === 0)).toBe(true);
    expect(await aceDt(await syncDir({ '000001-tools.tar': tar.subarray(0, -1024) }))).toEqual({ loaded: ['000001-tools.tar'] });
  });

  test('a tar cut inside a layer: the push of that blob fails', async () => {
    const tar = await tarOf(layout(images.registry));
    const layer = layersOf(images.registry)[0] as Descriptor;
    const at = tar.indexOf(Buffer.from(images.registry.blobs.get(layer.digest) as Uint8Array)) + 100;
    expect(await aceDt(await syncDir({ '000001-tools.tar': tar.subarray(0, at) }))).toEqual({
      entry: '000001-tools.tar',
      error: 'pushing blob: unexpected EOF',
    });
  });

  test('a tar cut inside a header', async () => {
    const tar = await tarOf(layout(images.registry));
    expect(await aceDt(await syncDir({ '000001-tools.tar': tar.subarray(0, 1024 + 100) }))).toEqual({
      entry: '000001-tools.tar',
      error: 'error getting tar header: unexpected EOF',
    });
  });
});

describe("batch-serialize's tracker read (encoding/csv, FieldsPerRecord -1, Comment '#', TrimLeadingSpace)", () => {
  const tracker = async (text: string) => {
    const dir = await syncDir({ 'record-keeping.csv': text });
    try {
      return await readTrackerAsAceDt(join(dir, 'record-keeping.csv'));
    } catch (error) {
      return (error as Error).message;
    }
  };

  test('ours: the next number follows the last row; each artifact recorded under its name', async () => {
    const rows = ['000001-tools.tar,reg/g:s1,sha256:aa', '000002-ops.tar.zst,reg/o:1,sha256:bb', '000003-tools.tar.gz,reg/g:s2,sha256:cc'];
    const view = await tracker(`sync_name,artifact,digest\n${rows.join('\n')}\n`);
    expect(view).toEqual({
      nextNumber: 4,
      shipped: new Map([
        [
          'tools',
          new Map([
            ['reg/g:s1', '000001-tools.tar'],
            ['reg/g:s2', '000003-tools.tar.gz'],
          ]),
        ],
        ['ops', new Map([['reg/o:1', '000002-ops.tar.zst']])],
      ]),
    });
  });

  test.each([
    [
      'a name with "-"',
      'sync_name,artifact,digest\n000001-my-tools.tar,reg/g:s1,sha256:aa\n',
      'unexpected tar file name 000001-my-tools.tar',
    ],
    [
      'a number that is not one',
      'sync_name,artifact,digest\nx1-tools.tar,reg/g:s1,sha256:aa\n',
      'splitting on record name x1-tools.tar: strconv.Atoi: parsing "x1": invalid syntax',
    ],
    [
      'a quote never closed',
      'sync_name,artifact,digest\n000001-tools.tar,"reg/g:s1,sha256:aa\n',
      'reading the record-keeping file: parse error on line 2, column 38: extraneous or missing " in quoted-field',
    ],
    [
      'a bare quote',
      'sync_name,artifact,digest\n000001-tools.tar,reg/g"s1,sha256:aa\n',
      'reading the record-keeping file: parse error on line 2, column 23: bare " in non-quoted-field',
    ],
  ])('%s is refused', async (_, text, error) => {
    expect(await tracker(text)).toBe(error);
  });

  test('comment lines and CRLF line ends are read as ace-dt reads them', async () => {
    const view = await tracker('sync_name,artifact,digest\r\n# a note\r\n000007-tools.tar, reg/g:s1,sha256:aa\r\n');
    expect(view).toEqual({ nextNumber: 8, shipped: new Map([['tools', new Map([['reg/g:s1', '000007-tools.tar']])]]) });
  });
});
