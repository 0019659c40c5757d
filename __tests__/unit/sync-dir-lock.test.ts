import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { removeLeftovers } from '../../src/core/sync-dir/leftovers.ts';
import {
  formatHolder,
  LOCK_FILENAME,
  lockSyncDir,
  parseHolder,
  SyncDirBusyError,
  type LockHolder,
  type SyncDirLock,
} from '../../src/core/sync-dir/lock.ts';
import { parseSyncName } from '../../src/core/sync-dir/sync-name.ts';

const LOCK_MODULE = pathToFileURL(join(import.meta.dirname, '../../src/core/sync-dir/lock.ts')).href;
let work: string;
let cases = 0;
/** The pid of a process that has exited. */
let deadPid: number;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bs-lock-'));
  const child = spawn(process.execPath, ['-e', '']);
  deadPid = child.pid as number;
  await new Promise((resolve) => child.once('exit', resolve));
});
afterAll(async () => {
  const { rm } = await import('node:fs/promises');
  await rm(work, { recursive: true, force: true });
});

async function syncDir(): Promise<string> {
  const dir = join(work, `sync-${++cases}`);
  await mkdir(dir);
  return dir;
}

async function held(dir: string): Promise<LockHolder> {
  const holder = parseHolder(await readFile(join(dir, LOCK_FILENAME), 'utf8'), LOCK_FILENAME);
  if (typeof holder === 'string') throw new Error(holder);
  return holder;
}

/** A lock as another process would have left it. */
async function plant(dir: string, holder: Partial<LockHolder>): Promise<string> {
  const text = formatHolder({
    pid: deadPid,
    host: hostname(),
    command: 'serialize',
    since: '2025-01-27T21:16:03.512Z',
    bootId: '',
    pidNamespace: '',
    startTicks: '',
    ...holder,
  });
  await writeFile(join(dir, LOCK_FILENAME), text);
  return text;
}

describe('the sync directory lock', () => {
  test('its name is no tar to ace-dt (it ends in .csv) nor to our listing', () => {
    expect(LOCK_FILENAME).toMatch(/\.csv$/);
    expect(parseSyncName(LOCK_FILENAME)).toBeUndefined();
  });

  test('taken with the holder in it, refused to a second taker while held, released', async () => {
    const dir = await syncDir();
    const lock = (await lockSyncDir(dir, { command: 'serialize' })) as SyncDirLock;
    expect(lock).toBeDefined();
    expect(await readdir(dir)).toEqual([LOCK_FILENAME]);
    const text = await readFile(join(dir, LOCK_FILENAME), 'utf8');
    expect(text).toMatch(/^pid,host,command,since,boot_id,pid_ns,start_ticks\n/);
    expect(await held(dir)).toMatchObject({ pid: process.pid, host: hostname(), command: 'serialize' });

    const second = lockSyncDir(dir, { command: 'verify' });
    await expect(second).rejects.toThrow(SyncDirBusyError);
    await expect(second).rejects.toThrow(`another run is using ${dir} (pid ${process.pid} on ${hostname()}): serialize since `);
    expect(await readFile(join(dir, LOCK_FILENAME), 'utf8')).toBe(text);

    await lock.release();
    expect(await readdir(dir)).toEqual([]);
    const again = await lockSyncDir(dir, { command: 'verify' });
    expect(again).toBeDefined();
    await again?.release();
  });

  test("a dead process's lock on this host is taken over, with a note", async () => {
    const dir = await syncDir();
    await plant(dir, { pid: deadPid });
    const notes: string[] = [];
    const lock = await lockSyncDir(dir, { command: 'serialize', note: (note) => notes.push(note) });
    expect(notes).toEqual([
      `took over the lock of pid ${deadPid} on ${hostname()} (serialize since 2025-01-27T21:16:03.512Z): that process is gone`,
    ]);
    expect((await held(dir)).pid).toBe(process.pid);
    expect(await readdir(dir)).toEqual([LOCK_FILENAME]);
    await lock?.release();
  });

  test('a reused pid (another start time) and a lock from before a restart are stale too', async () => {
    const dir = await syncDir();
    const me = await lockSyncDir(dir, { command: 'x' });
    const { bootId, startTicks } = await held(dir);
    await me?.release();
    const notes: string[] = [];
    if (startTicks !== '') {
      await plant(dir, { pid: process.pid, bootId, startTicks: String(Number(startTicks) + 1) });
      (await lockSyncDir(dir, { command: 'x', note: (note) => notes.push(note) }))?.release();
      expect(notes.pop()).toMatch(`that process is gone (pid ${process.pid} is another process now)`);
    }
    if (bootId !== '') {
      await plant(dir, { pid: process.pid, bootId: 'another-boot' });
      await (await lockSyncDir(dir, { command: 'x', note: (note) => notes.push(note) }))?.release();
      expect(notes.pop()).toMatch(/: this host restarted since$/);
    }
  });

  test('a lock from another host is never taken over: it says so and leaves it', async () => {
    const dir = await syncDir();
    const text = await plant(dir, { host: 'far-away.example', pid: deadPid });
    await expect(lockSyncDir(dir, { command: 'serialize' })).rejects.toThrow(
      `another run is using ${dir} (pid ${deadPid} on far-away.example): serialize since 2025-01-27T21:16:03.512Z; ` +
        `the lock ${join(dir, LOCK_FILENAME)} is from another host, so this run cannot tell whether that one is alive: ` +
        'if it is not, remove the lock and run again',
    );
    expect(await readFile(join(dir, LOCK_FILENAME), 'utf8')).toBe(text);
  });

  test('a lock of another PID namespace of this host (another container) is not judged either', async () => {
    const dir = await syncDir();
    const me = await lockSyncDir(dir, { command: 'x' });
    const { pidNamespace } = await held(dir);
    await me?.release();
    if (pidNamespace === '') return; // no /proc here
    await plant(dir, { pidNamespace: 'pid:[1]' });
    await expect(lockSyncDir(dir, { command: 'x' })).rejects.toThrow(/another PID namespace of .* \(another container\?\)/);
  });

  test('a lock naming no holder is left alone, and said so', async () => {
    const dir = await syncDir();
    await writeFile(join(dir, LOCK_FILENAME), '');
    await expect(lockSyncDir(dir, { command: 'x' })).rejects.toThrow(
      `another run may be using ${dir}: its lock ${join(dir, LOCK_FILENAME)} names no holder (it is empty); ` +
        `if no run is using ${dir}, remove the lock and run again`,
    );
    await writeFile(join(dir, LOCK_FILENAME), 'pid,host\n0,h\n');
    await expect(lockSyncDir(dir, { command: 'x' })).rejects.toThrow(/names no holder \(it is not a pid,host,/);
  });

  test('release leaves a lock that is not its own', async () => {
    const dir = await syncDir();
    const lock = await lockSyncDir(dir, { command: 'x' });
    const text = await plant(dir, { host: 'other.example' });
    await lock?.release();
    expect(await readFile(join(dir, LOCK_FILENAME), 'utf8')).toBe(text);
  });

  test('nothing to lock where there is no directory', async () => {
    expect(await lockSyncDir(join(work, 'no-such-dir'), { command: 'verify', readOnly: true })).toBeUndefined();
  });

  test('many processes at once, with a stale lock in the way: exactly one holds it', async () => {
    const dir = await syncDir();
    await plant(dir, { pid: deadPid });
    // A holder keeps the lock until every process has said how it went (its stdin is closed then), not for a fixed
    // time: a process that started late under load would otherwise find the lock released and take it, and be
    // counted as a second holder though it never held it at the same time.
    const script =
      `const { lockSyncDir } = await import(${JSON.stringify(LOCK_MODULE)}); let lock;` +
      `try { lock = await lockSyncDir(process.argv[1], { command: 'race' }); console.log(lock ? 'locked' : 'nothing to lock'); }` +
      ` catch (error) { console.log(error.name === 'SyncDirBusyError' ? 'busy' : 'error: ' + error.message); }` +
      ` if (lock) { await new Promise((r) => process.stdin.on('data', () => {}).once('end', r)); await lock.release(); }`;
    const children = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdin.on('error', () => undefined); // a process that is busy is gone when its stdin is closed
      const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
      const outcome = new Promise<string>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('\n')) resolve(stdout.trim());
        });
        void exited.then(() => resolve(stdout.trim() || `exited without a word: ${stderr}`));
      });
      return { child, outcome, exited };
    });
    const outcomes = await Promise.all(children.map(({ outcome }) => outcome));
    // Every process has decided while each that took the lock still holds it: two 'locked' were two holders at once.
    for (const { child } of children) child.stdin.end();
    await Promise.all(children.map(({ exited }) => exited));
    expect(
      outcomes.filter((outcome) => outcome === 'locked'),
      outcomes.join(', '),
    ).toHaveLength(1);
    expect(
      outcomes.filter((outcome) => outcome === 'busy'),
      outcomes.join(', '),
    ).toHaveLength(3);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('leftovers of runs that died', () => {
  test('partial tars and temp files go under the lock; the lock temp of a live process and other files stay', async () => {
    const dir = await syncDir();
    const names = [
      '000003-tools.tar.partial',
      '000003-tools.tar.zst.sha256.tmp-4242',
      'record-keeping.csv.tmp-4242',
      'record-keeping.ledger.jsonl.tmp-17',
      'successful-syncs.csv.tmp-99',
      `${LOCK_FILENAME}.tmp-${deadPid}`,
      `${LOCK_FILENAME}.tmp-${process.ppid}`,
      'notes.txt.tmp-5',
      '000002-tools.tar',
      'x.partial',
    ];
    for (const name of names) await writeFile(join(dir, name), 'x');
    const lock = (await lockSyncDir(dir, { command: 'serialize' })) as SyncDirLock;
    const removed = await removeLeftovers(lock, { tars: true, files: ['record-keeping.csv', 'record-keeping.ledger.jsonl'] });
    expect(removed).toEqual([
      '000003-tools.tar.partial',
      '000003-tools.tar.zst.sha256.tmp-4242',
      `${LOCK_FILENAME}.tmp-${deadPid}`,
      'record-keeping.csv.tmp-4242',
      'record-keeping.ledger.jsonl.tmp-17',
    ]);
    expect(await removeLeftovers(lock, { files: ['successful-syncs.csv'] })).toEqual(['successful-syncs.csv.tmp-99']);
    await lock.release();
    expect((await readdir(dir)).sort()).toEqual(
      ['000002-tools.tar', `${LOCK_FILENAME}.tmp-${process.ppid}`, 'notes.txt.tmp-5', 'x.partial'].sort(),
    );
  });
});
