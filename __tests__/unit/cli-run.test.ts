/** The CLI as a user runs it (a Node child process), on OCI layouts: nothing but Node is needed. */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { digestHex } from '../../src/core/oci/digest.ts';
import { mergeBlobs, parseManifest, tutorialImages, writeOciLayout, type TutorialImages } from '../../testkit/images.ts';

const CLI = fileURLToPath(new URL('../../bin/batch-serialize.js', import.meta.url));
let scratch: string;
let images: TutorialImages;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'bs-cli-run-'));
  images = await tutorialImages();
});
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function cli(args: string[], nodeOptions: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...nodeOptions, CLI, ...args], { cwd: scratch }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('misspelt options', () => {
  test('one line naming the nearest option and where the options are listed; exit 2', async () => {
    const result = await cli(['batch.csv', 'sync', '--compresion', 'zstd']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'batch-serialize: unknown option --compresion: did you mean --compression?\n(batch-serialize --help lists the options)\n',
    );
  });

  test('verify --version and deserialize --version print the version', async () => {
    for (const command of ['verify', 'deserialize']) {
      const result = await cli([command, '--version']);
      expect(result).toMatchObject({ code: 0, stdout: expect.stringMatching(/^batch-serialize \d+\.\d+\.\d+\n$/) });
    }
  });
});

test('an older Node is told which Node the CLI needs, before anything runs', async () => {
  const olderNode = "data:text/javascript,Object.defineProperty(process.versions,'node',{value:'20.19.0'})";
  const result = await cli(['verify', 'sync'], ['--import', olderNode]);
  expect(result.code).toBe(2);
  expect(result.stderr).toBe('batch-serialize: needs Node 24 or newer (zstd in node:zlib); this is Node 20.19.0\n');
});

test('--json on a failure after a tar was written prints that tar and the error', async () => {
  const store = join(scratch, 'store');
  await writeOciLayout(store, mergeBlobs([images.sources1, images.sources2]), [
    { descriptor: images.sources1.root, tag: 'sources1' },
    { descriptor: images.sources2.root, tag: 'sources2' },
  ]);
  // The second artifact's caddy layer is gone from the store: its manifests plan fine, its tar fails.
  const caddy = parseManifest(images.caddy, parseManifestOfIndex());
  const layer = caddy.layers?.at(-1)?.digest as string;
  await rm(join(store, 'blobs', 'sha256', digestHex(layer)));
  await writeFile(join(scratch, 'batch.csv'), `a,ocidir://${store}:sources1\nb,ocidir://${store}:sources2\n`);

  const result = await cli(['batch.csv', 'sync', '--json']);
  expect(result.code).toBe(1);
  const json = JSON.parse(result.stdout) as { error: string; written: Array<{ syncName: string }> };
  expect(json.written.map((tar) => tar.syncName)).toEqual(['000001-a.tar']);
  expect(json.error).toContain(layer);
  expect(result.stderr).toContain(`batch-serialize: error: `);
  expect((await readdir(join(scratch, 'sync'))).filter((name) => name.endsWith('.tar'))).toEqual(['000001-a.tar']);
});

/** The first image manifest of the caddy index. */
function parseManifestOfIndex() {
  const index = parseManifest(images.caddy, images.caddy.root);
  return index.manifests?.[0] as NonNullable<typeof index.manifests>[number];
}

test("the plan warns about a name ace-dt's far side cannot load, and goes on", async () => {
  const store = join(scratch, 'store-names');
  await writeOciLayout(store, images.sources1.blobs, [{ descriptor: images.sources1.root, tag: 'sources1' }]);
  await writeFile(join(scratch, 'names.csv'), `my-tools,ocidir://${store}:sources1\n`);
  const result = await cli(['names.csv', 'names-sync', '--dry-run']);
  expect(result.code).toBe(0);
  expect(result.stderr).toContain('batch-serialize: warning: names.csv:1: name "my-tools" has a "-" or ".": ace-dt\'s batch-deserialize');
  expect(result.stdout).toContain('000001-my-tools.tar');
});
