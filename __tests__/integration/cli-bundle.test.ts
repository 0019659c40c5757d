import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mergeBlobs, tutorialImages, writeOciLayout } from '../../testkit/images.ts';

const exec = promisify(execFile);
const BUNDLE = fileURLToPath(new URL('../../dist/cli', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bs-bundle-'));
  const { sources1, sources2 } = await tutorialImages();
  await writeOciLayout(join(dir, 'store'), mergeBlobs([sources1, sources2]), [
    { descriptor: sources1.root, tag: 'sources1' },
    { descriptor: sources2.root, tag: 'sources2' },
  ]);
  await writeFile(
    join(dir, 'batch.csv'),
    `name,artifact\ntools,ocidir://${join(dir, 'store')}:sources1\ntools2,ocidir://${join(dir, 'store')}:sources2\n`,
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

// The far side has no npm and often no internet: the committed bundle, copied alone, is the whole CLI.
test('dist/cli copied on its own serializes and verifies', async () => {
  const copied = join(dir, 'carried');
  await cp(BUNDLE, copied, { recursive: true });
  const cli = (...args: string[]) => exec(process.execPath, [join(copied, 'index.js'), ...args], { cwd: dir });
  expect((await cli('--version')).stdout).toMatch(/^batch-serialize \d+\.\d+\.\d+\n$/);
  await cli('batch.csv', 'sync', '--compression', 'zstd');
  const { stdout } = await cli('verify', 'sync');
  expect(stdout).toMatch(/Verified: 2 tar\(s\) in sync, everything checks out/);
});

// undici's index loads fetch, WebSocket and the rest, and through them Node's own copy of undici: twice the loading at
// every start (src/core/undici.ts).
test('dist/cli loads only the parts of undici it uses, and not Node’s own copy', async () => {
  const report = "process.on('exit', () => console.error(JSON.stringify(process.moduleLoadList)))";
  const { stderr } = await exec(
    process.execPath,
    ['--import', `data:text/javascript,${report}`, join(BUNDLE, 'index.js'), 'batch.csv', 'light'],
    {
      cwd: dir,
    },
  );
  const loaded = JSON.parse(stderr.slice(stderr.lastIndexOf('\n[') + 1)) as string[];
  expect(loaded).toContain('NativeModule http');
  expect(loaded).not.toContain('NativeModule internal/deps/undici/undici');
});
