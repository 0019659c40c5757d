/**
 * A staged file (far-side/staging.ts) in a real temporary directory, watched with inotify (fs.watch): on Linux it never
 * has a name there, not even for an instant, so a kill at any point leaves nothing behind.
 */
import { watch } from 'node:fs';
import { mkdtemp, readdir, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { StagedFile } from '../../src/core/far-side/staging.ts';

let staging: string;
const tmpdirBefore = process.env.TMPDIR;

beforeEach(async () => {
  staging = await mkdtemp(join(tmpdir(), 'bs-staging-unnamed-'));
  process.env.TMPDIR = staging; // os.tmpdir()
});
afterEach(async () => {
  if (tmpdirBefore === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = tmpdirBefore;
  await rm(staging, { recursive: true, force: true });
});

test('a staged file never has a name in TMPDIR, is the owner’s alone, and holds what was written', async () => {
  const named: string[] = []; // inotify's "rename": a name made or removed (a write to the file is a "change")
  const watcher = watch(staging, (event, name) => event === 'rename' && named.push(String(name)));
  try {
    const file = await StagedFile.create(1024);
    expect(file).toBeDefined();
    await file!.write(Buffer.from('staged bytes'));
    // The kernel's name for a file without one is `/#INODE (deleted)`.
    const fds = await readdir('/proc/self/fd');
    const links = await Promise.all(fds.map(async (fd) => ({ fd, link: await readlink(`/proc/self/fd/${fd}`).catch(() => '') })));
    const staged = links.filter(({ link }) => link.startsWith(staging));
    expect(staged.map(({ link }) => link)).toEqual([expect.stringMatching(/\/#\d+ \(deleted\)$/)]);
    expect((await stat(`/proc/self/fd/${staged[0]!.fd}`)).mode & 0o777).toBe(0o600);
    expect((await buffer(file!.reader(4)(7, 12))).toString()).toBe('bytes');
    await file!.close();
    await new Promise((resolve) => setTimeout(resolve, 100)); // inotify's events reach the watcher
    expect(named).toEqual([]);
    expect(await readdir(staging)).toEqual([]);
  } finally {
    watcher.close();
  }
});
