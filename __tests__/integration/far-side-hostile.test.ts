import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { extract as createExtract, pack as createPack, type Header } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deserializeSyncDir } from '../../src/core/far-side/deserialize.ts';
import { verifySyncDir, type VerifyReport } from '../../src/core/far-side/verify.ts';
import { MemoryRegistry } from '../../src/core/oci/memory-store.ts';
import { FAR, farSettings, syncDirFixture, type SyncDirFixture } from '../support/sync-dir-fixture.ts';

/**
 * Sync directories nobody conforming writes: tars with entries that climb out of the layout, links and devices,
 * and things named like tars that are not regular files. verify must fail naming them (keeping the rest of its
 * report), deserialize must refuse them with nothing pushed, and neither may hang.
 */

let fixture: SyncDirFixture;
/** 000001-tools.tar (sources1), 000002-tools.tar (sources2: leaves out grafana's blobs), sidecars, tracker. */
let base: string;

beforeAll(async () => {
  fixture = await syncDirFixture('bs-hostile-');
  base = await fixture.tutorialPair('base');
});
afterAll(() => fixture.remove());

const copyOfBase = () => fixture.copyOf(base);

const verify = (dir: string): Promise<VerifyReport> => verifySyncDir({ dir, dedupScope: 'name', trackerFilename: 'record-keeping.csv' });
const settings = farSettings;

/** What tar-stream's pack takes. */
type EntryHeader = Partial<Header> & Pick<Header, 'name'>;

interface Extra {
  header: EntryHeader;
  content?: Buffer;
}

/**
 * Rewrites a tar entry by entry: `rename` may change each header, `extra` entries go in before the closing
 * index.json; the sidecar is rewritten to match, so what is found is only what the entries are.
 */
async function rewriteTar(path: string, extra: Extra[], rename: (header: EntryHeader) => EntryHeader = (header) => header): Promise<void> {
  const input = await readFile(path);
  const entries: Array<{ header: EntryHeader; content: Buffer }> = [];
  const reader = createExtract();
  const done = (async () => {
    for await (const entry of reader) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      entries.push({ header: entry.header, content: Buffer.concat(chunks) });
    }
  })();
  reader.end(input);
  await done;
  const closing = entries.map((entry) => entry.header.name).lastIndexOf('index.json');
  const all = [...entries.slice(0, closing), ...extra.map((e) => ({ header: e.header, content: e.content ?? Buffer.alloc(0) }))];
  all.push(...entries.slice(closing));
  const packer = createPack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of packer) chunks.push(chunk as Buffer);
  })();
  for (const { header, content } of all) {
    const renamed = rename(header);
    await new Promise<void>((resolve, reject) =>
      renamed.type === 'file' || renamed.type === undefined
        ? packer.entry({ ...renamed, size: content.byteLength }, content, (error) => (error ? reject(error) : resolve()))
        : packer.entry({ ...renamed, size: 0 }, (error) => (error ? reject(error) : resolve())),
    );
  }
  packer.finalize();
  await collected;
  await writeFile(path, Buffer.concat(chunks));
  await rewriteSidecar(path);
}

/** The tar's sidecar where the serializer writes it and readers look first: `DIR/batch-serialize/NAME.sha256`. */
const sidecarOf = (path: string) => join(dirname(path), 'batch-serialize', `${basename(path)}.sha256`);

async function rewriteSidecar(path: string): Promise<void> {
  const hex = createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
  await writeFile(sidecarOf(path), `${hex}  ${basename(path)}\n`);
}

/** Sets the typeflag of the entry named `name` in a plain tar (and its header checksum), e.g. `S`: a GNU sparse file. */
async function setTypeflag(path: string, name: string, flag: string): Promise<void> {
  const bytes = await readFile(path);
  for (let at = 0; at + 512 <= bytes.byteLength; at += 512) {
    if (
      bytes
        .subarray(at, at + 100)
        .toString('latin1')
        .replace(/\0.*$/s, '') !== name
    )
      continue;
    bytes.write(flag, at + 156, 'latin1');
    bytes.fill(' ', at + 148, at + 156, 'latin1');
    let sum = 0;
    for (let i = at; i < at + 512; i++) sum += bytes[i] as number;
    bytes.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
    await writeFile(path, bytes);
    await rewriteSidecar(path);
    return;
  }
  throw new Error(`no entry ${name} in ${path}`);
}

const mkfifo = async (path: string) => void (await promisify(execFile)('mkfifo', [path]));
const blobName = (hex: string) => `blobs/sha256/${hex}`;
const someHex = 'a'.repeat(64);

describe('tar entries no conforming writer makes: a problem naming the entry, nothing pushed', () => {
  const cases: Array<[string, Extra[], RegExp]> = [
    [
      'a name with ../',
      [{ header: { name: '../../evil', type: 'file' }, content: Buffer.from('x') }],
      /entry "\.\.\/\.\.\/evil" has a name with "\.\."/,
    ],
    [
      'a ./ name that climbs out',
      [{ header: { name: './blobs/../../evil', type: 'file' }, content: Buffer.from('x') }],
      /entry "\.\/blobs\/\.\.\/\.\.\/evil" has a name with "\.\."/,
    ],
    [
      'an absolute name',
      [{ header: { name: '/etc/cron.d/evil', type: 'file' }, content: Buffer.from('x') }],
      /entry "\/etc\/cron\.d\/evil" has an absolute name/,
    ],
    [
      'a symbolic link named like a blob',
      [{ header: { name: blobName(someHex), type: 'symlink', linkname: '/etc/shadow' } }],
      /entry "blobs\/sha256\/a{64}" is a symbolic link \(to "\/etc\/shadow"\)/,
    ],
    [
      'a hard link',
      [{ header: { name: 'evil', type: 'link', linkname: 'oci-layout' } }],
      /entry "evil" is a hard link \(to "oci-layout"\)/,
    ],
    [
      'a character device',
      [{ header: { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 } }],
      /entry "null" is a character device/,
    ],
    ['a block device', [{ header: { name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 } }], /entry "sda" is a block device/],
    ['a FIFO', [{ header: { name: 'pipe', type: 'fifo' } }], /entry "pipe" is a FIFO/],
    ['a directory outside', [{ header: { name: '/tmp/', type: 'directory' } }], /entry "\/tmp\/" has an absolute name/],
  ];

  test.each(cases)('%s', async (_what, extra, message) => {
    const dir = await copyOfBase();
    await rewriteTar(join(dir, '000002-tools.tar'), extra);
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.tars.map((tar) => [tar.syncName, tar.ok])).toEqual([
      ['000001-tools.tar', true],
      ['000002-tools.tar', false],
    ]);
    expect(report.tars[1]?.problems).toEqual([expect.stringMatching(message)]);

    const registry = new MemoryRegistry();
    await expect(deserializeSyncDir(settings(dir), registry)).rejects.toThrow(
      /^000002-tools\.tar: refused, the tar is damaged \(no manifest or tag of it was pushed\):\n {2}entry .*\(the tars before it are/s,
    );
    const tools = registry.repository({ registry: FAR, repository: 'mirror/tools' });
    expect(tools.tags()).toEqual(['sources1']);
  });

  test('an entry type tar-stream does not know (GNU sparse), named like a blob, is not taken for a file', async () => {
    const dir = await copyOfBase();
    const path = join(dir, '000001-tools.tar');
    await rewriteTar(path, [{ header: { name: blobName(someHex), type: 'file' }, content: Buffer.from('x') }]);
    await setTypeflag(path, blobName(someHex), 'S');
    const report = await verify(dir);
    expect(report.tars[0]?.problems).toContainEqual(
      expect.stringMatching(/^entry "blobs\/sha256\/a{64}" is of a type tar-stream does not know/),
    );
    await expect(deserializeSyncDir(settings(dir), new MemoryRegistry())).rejects.toThrow(
      /^000001-tools\.tar: refused, the tar is damaged/,
    );
  });

  test("ace-dt's ./ prefixes and directory entries ./, blobs, blobs/sha256 are fine: no problem, no note", async () => {
    const dir = await copyOfBase();
    const prefixed = (header: EntryHeader): EntryHeader => ({ ...header, name: `./${header.name}` });
    await rewriteTar(join(dir, '000001-tools.tar'), [], prefixed);
    const path = join(dir, '000002-tools.tar');
    await rewriteTar(path, [{ header: { name: './', type: 'directory' } }], prefixed);
    const report = await verify(dir);
    expect(report.tars.map((tar) => [tar.syncName, tar.ok, tar.problems, tar.notes])).toEqual([
      ['000001-tools.tar', true, [], []],
      ['000002-tools.tar', true, [], []],
    ]);
    const result = await deserializeSyncDir(settings(dir), new MemoryRegistry());
    expect(result.loaded.map((tar) => tar.syncName)).toEqual(['000001-tools.tar', '000002-tools.tar']);
  });
});

describe('things named like tars that are not regular files: reported by name, the rest of the report kept', () => {
  const cases: Array<[string, (dir: string) => Promise<void>, string]> = [
    ['a directory', (dir) => mkdir(join(dir, '000003-tools.tar')), 'a directory'],
    ['a FIFO', (dir) => mkfifo(join(dir, '000003-tools.tar')), 'a FIFO'],
    ['a symbolic link to /dev/zero', (dir) => symlink('/dev/zero', join(dir, '000003-tools.tar')), 'a symbolic link'],
    ['a symbolic link to a good tar', (dir) => symlink(join(dir, '000002-tools.tar'), join(dir, '000003-tools.tar')), 'a symbolic link'],
  ];

  // Before the fix: EISDIR lost the report; a FIFO or /dev/zero was read forever.
  test.each(cases)(
    '%s',
    async (_what, make, kind) => {
      const dir = await copyOfBase();
      await make(dir);
      const report = await verify(dir);
      expect(report.ok).toBe(false);
      expect(report.tars.map((tar) => [tar.syncName, tar.ok])).toEqual([
        ['000001-tools.tar', true],
        ['000002-tools.tar', true],
        ['000003-tools.tar', false],
      ]);
      expect(report.tars[2]?.problems).toEqual([`not a regular file but ${kind}: only regular files are read (put the tar itself here)`]);
      expect(report.problems).toEqual([]);

      const registry = new MemoryRegistry();
      await expect(deserializeSyncDir(settings(dir), registry)).rejects.toThrow(
        new RegExp(`^000003-tools\\.tar: refused, not a regular file but ${kind}: .*\\(nothing of it was pushed\\)`),
      );
      expect(registry.repository({ registry: FAR, repository: 'mirror/tools' }).tags()).toEqual(['sources1', 'sources2']);
    },
    10_000,
  );

  test.each([
    ['a FIFO', (path: string) => mkfifo(path), 'a FIFO'],
    ['a directory', (path: string) => mkdir(path), 'a directory'],
    ['a link to /dev/zero', (path: string) => symlink('/dev/zero', path), 'a symbolic link'],
  ])(
    'a sidecar that is %s: a problem of its tar, not read; verify goes on',
    async (_what, make, kind) => {
      const dir = await copyOfBase();
      const sidecar = sidecarOf(join(dir, '000001-tools.tar'));
      await rm(sidecar);
      await make(sidecar);
      const report = await verify(dir);
      expect(report.tars.map((tar) => [tar.syncName, tar.ok, tar.sidecar])).toEqual([
        ['000001-tools.tar', false, 'mismatch'],
        ['000002-tools.tar', true, 'match'],
      ]);
      expect(report.tars[0]?.problems).toEqual([`checksum mismatch: ${sidecar} is not a regular file but ${kind} (not read)`]);
    },
    10_000,
  );

  test('a tracker, ledger or record that is a FIFO: verify notes it and goes on; deserialize refuses, nothing pushed', async () => {
    const dir = await copyOfBase();
    await rm(join(dir, 'record-keeping.csv'));
    await mkfifo(join(dir, 'record-keeping.csv'));
    await rm(join(dir, 'batch-serialize', 'record-keeping.ledger.jsonl'));
    await mkfifo(join(dir, 'batch-serialize', 'record-keeping.ledger.jsonl'));
    await mkfifo(join(dir, 'successful-syncs.csv'));
    const report = await verify(dir);
    expect(report.ok).toBe(true);
    expect(report.notes).toEqual(
      [
        'record-keeping.csv: the tracker',
        'batch-serialize/record-keeping.ledger.jsonl: the ledger',
        'successful-syncs.csv: the record of loaded tars',
      ].map((what) => expect.stringContaining(`${join(dir, what)} is not a regular file but a FIFO (ignored)`)),
    );
    const registry = new MemoryRegistry();
    await expect(deserializeSyncDir(settings(dir), registry)).rejects.toThrow(
      `${join(dir, 'successful-syncs.csv')}: the record of loaded tars is not a regular file but a FIFO`,
    );
    expect(registry.repositories()).toEqual([]);
  }, 10_000);

  test('a directory in the middle counts as a damaged tar: the later tar needing its blobs names it', async () => {
    const dir = await copyOfBase();
    await rm(join(dir, '000001-tools.tar'));
    await mkdir(join(dir, '000001-tools.tar'));
    const report = await verify(dir);
    expect(report.absent).toEqual([]);
    expect(report.tars[0]?.problems).toEqual(['not a regular file but a directory: only regular files are read (put the tar itself here)']);
    expect(report.tars[1]?.missing[0]?.expectedIn).toEqual([{ syncName: '000001-tools.tar', state: 'damaged' }]);
  });
});
