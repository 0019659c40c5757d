import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { extractArtifactZip } from '../../src/github/artifact-zip.ts';
import { parseListing, type RestArtifact } from '../../src/github/artifacts-api.ts';
import { selectArtifacts } from '../../src/github/collect.ts';

interface ZipEntry {
  name: string;
  data?: Buffer | string;
  /** Unix mode in the external attributes (made by Unix); default a regular file, 0644. */
  mode?: number;
}

/**
 * A stored (uncompressed) zip written field by field, so that tests can make the hostile ones no zip tool makes:
 * `..` and absolute names, links, duplicates. Only for building test input: the code under test reads with yauzl.
 */
function storedZip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const data = Buffer.from(entry.data ?? '');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((entry.mode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const TAR = '000001-tools.tar';
const SIDECAR = `${TAR}.sha256`;
const WANTED = new Map([
  [TAR, { maxBytes: Number.MAX_SAFE_INTEGER, required: true }],
  [SIDECAR, { maxBytes: 4096, required: true }],
]);
const tarBytes = Buffer.from('not really a tar, but bytes all the same\n');
const sidecarText = `${createHash('sha256').update(tarBytes).digest('hex')}  ${TAR}\n`;

let scratch: string;
let cases = 0;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'bs-zip-'));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** Writes the zip beside an empty folder, extracts into the folder; the result or the error, and what the folder holds. */
async function extract(zip: Buffer): Promise<{ error?: Error; files: string[]; result?: Awaited<ReturnType<typeof extractArtifactZip>> }> {
  const base = join(scratch, `case-${++cases}`);
  const dir = join(base, 'out');
  await mkdir(dir, { recursive: true });
  await writeFile(join(base, 'artifact.zip'), zip);
  try {
    const result = await extractArtifactZip(join(base, 'artifact.zip'), WANTED, dir);
    return { result, files: (await readdir(dir)).sort() };
  } catch (error) {
    return { error: error as Error, files: await readdir(dir) };
  }
}

describe('extractArtifactZip', () => {
  test('the tar and its sidecar come out, hashed and sized', async () => {
    const { result, files, error } = await extract(
      storedZip([
        { name: TAR, data: tarBytes },
        { name: SIDECAR, data: sidecarText },
      ]),
    );
    expect(error).toBeUndefined();
    expect(files).toEqual([TAR, SIDECAR]);
    expect(result?.get(TAR)).toMatchObject({
      bytes: tarBytes.length,
      sha256: `sha256:${createHash('sha256').update(tarBytes).digest('hex')}`,
    });
    expect(await readFile(result!.get(SIDECAR)!.path, 'utf8')).toBe(sidecarText);
  });

  test.each<[string, ZipEntry[], RegExp]>([
    ['a name with ..', [{ name: TAR }, { name: `../${SIDECAR}` }], /^refused: invalid relative path: \.\.\/000001-tools\.tar\.sha256$/],
    ['an absolute name', [{ name: TAR }, { name: `/tmp/${SIDECAR}` }], /^refused: absolute path: \/tmp\/000001-tools\.tar\.sha256$/],
    ['a backslash', [{ name: TAR }, { name: `..\\${SIDECAR}` }], /^refused: .*\\/],
    [
      'a symbolic link',
      [{ name: TAR }, { name: SIDECAR, data: '/etc/passwd', mode: 0o120777 }],
      /entry "000001-tools\.tar\.sha256" is a symbolic link/,
    ],
    ['a device', [{ name: TAR, mode: 0o020644 }, { name: SIDECAR }], /entry "000001-tools\.tar" is not a regular file/],
    ['a directory', [{ name: 'blobs/', mode: 0o040755 }, { name: TAR }, { name: SIDECAR }], /entry "blobs\/" is a directory/],
    [
      'a third file',
      [{ name: TAR }, { name: SIDECAR }, { name: 'README' }],
      /unexpected entry "README" \(expected only 000001-tools\.tar, 000001-tools\.tar\.sha256\)/,
    ],
    ['a file in a folder', [{ name: `sync/${TAR}` }, { name: SIDECAR }], /unexpected entry "sync\/000001-tools\.tar"/],
    ['a name twice', [{ name: TAR }, { name: SIDECAR }, { name: TAR }], /entry "000001-tools\.tar" appears twice/],
    ['no sidecar', [{ name: TAR }], /^has no 000001-tools\.tar\.sha256/],
    [
      'a huge sidecar',
      [{ name: TAR }, { name: SIDECAR, data: 'x'.repeat(5000) }],
      /entry "000001-tools\.tar\.sha256" is 5000 bytes, over 4096/,
    ],
  ])('%s refuses the whole zip, nothing written', async (_case, entries, message) => {
    const { error, files } = await extract(storedZip(entries.map((entry) => ({ data: 'x', ...entry }))));
    expect(error?.name).toBe('ArtifactZipError');
    expect(error?.message).toMatch(message);
    expect(files).toEqual([]);
  });

  test('what is not a zip says so', async () => {
    const { error, files } = await extract(Buffer.from('<html>a proxy page</html>'));
    expect(error?.message).toMatch(/^not a zip we can read: /);
    expect(files).toEqual([]);
  });
});

let ids = 0;
function artifact(name: string, options: Partial<RestArtifact> & { run?: number; fork?: boolean } = {}): RestArtifact {
  const { run = 7, fork = false, ...rest } = options;
  return {
    id: ++ids,
    name,
    sizeInBytes: 100,
    expired: false,
    createdAt: '2025-01-02T03:04:05Z',
    workflowRun: { id: run, headBranch: 'main', repositoryId: 42, headRepositoryId: fork ? 99 : 42 },
    ...rest,
  };
}

describe('selectArtifacts', () => {
  const P = 'batch-serialize-batch.csv';

  test("the prefix's tars in number order, each with its artifacts newest first; the rest is left", () => {
    const older = artifact(`${P}-000001-tools.tar`, { createdAt: '2025-01-01T00:00:00Z', run: 1 });
    const newer = artifact(`${P}-000001-tools.tar`, { createdAt: '2025-01-03T00:00:00Z', run: 3 });
    const zst = artifact(`${P}-000002-base.tar.zst`);
    const selection = selectArtifacts(
      [
        zst,
        older,
        artifact(`${P}-tracker`),
        artifact(`${P}-tracker`),
        newer,
        artifact('000003-tools.tar'),
        artifact('batch-serialize-other.csv-000001-tools.tar'),
        artifact(`${P}-notes.txt`),
        artifact(`${P}.old-000001-tools.tar`),
      ],
      P,
    );
    expect(selection.tars).toEqual([
      { syncName: '000001-tools.tar', fileName: '000001-tools.tar', number: 1, artifacts: [newer, older] },
      { syncName: '000002-base.tar.zst', fileName: '000002-base.tar.zst', number: 2, artifacts: [zst] },
    ]);
    expect(selection).toMatchObject({ trackers: 2, notes: [], clashes: [] });
  });

  test('a fork pull request can name its artifacts as it likes: never taken; nor is one of an unknown run', () => {
    const fork = artifact(`${P}-000005-tools.tar`, { fork: true, run: 12 });
    const unknown = artifact(`${P}-000006-tools.tar`, { workflowRun: undefined });
    const selection = selectArtifacts([fork, unknown], P);
    expect(selection.tars).toEqual([]);
    expect(selection.notes).toEqual([
      `artifact ${P}-000005-tools.tar (id ${fork.id}): uploaded by run 12, for a pull request from another repository (a fork): ignored`,
      `artifact ${P}-000006-tools.tar (id ${unknown.id}): GitHub names no workflow run for it, so where it came from is unknown: ignored`,
    ]);
  });

  test('two sync names with one number clash', () => {
    const selection = selectArtifacts([artifact(`${P}-000004-tools.tar`), artifact(`${P}-000004-base.tar`)], P);
    expect(selection.clashes).toEqual([{ number: 4, syncNames: ['000004-base.tar', '000004-tools.tar'] }]);
  });
});

describe('parseListing', () => {
  test("GitHub's fields, workflow_run included", () => {
    const body = {
      total_count: 1,
      artifacts: [
        {
          id: 5,
          name: 'a',
          size_in_bytes: 10,
          expired: true,
          created_at: '2025-01-02T03:04:05Z',
          archive_download_url: 'https://api.github.com/repos/o/r/actions/artifacts/5/zip',
          workflow_run: { id: 9, head_branch: 'main', repository_id: 1, head_repository_id: 2, head_sha: 'abc' },
        },
      ],
    };
    expect(parseListing(body, 'x')).toEqual({
      total: 1,
      artifacts: [
        {
          id: 5,
          name: 'a',
          sizeInBytes: 10,
          expired: true,
          createdAt: '2025-01-02T03:04:05Z',
          workflowRun: { id: 9, headBranch: 'main', repositoryId: 1, headRepositoryId: 2 },
        },
      ],
    });
  });

  test('another shape is an error naming where it came from', () => {
    expect(() => parseListing({ artifacts: [] }, 'api.github.com: GET /x')).toThrow(
      'api.github.com: GET /x: the answer is not { total_count, artifacts: [...] }',
    );
    expect(() => parseListing({ total_count: 1, artifacts: [{ id: '5', name: 'a' }] }, 'h')).toThrow('h: artifacts[0] is not');
  });
});
