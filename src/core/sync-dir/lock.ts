import { constants, readFileSync } from 'node:fs';
import { access, link, open, readFile, readlink, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { formatCsv, parseCsv } from './csv.ts';
import { crashPoint } from '../crash-point.ts';
import { syncDirectory } from './files.ts';

/**
 * The lock of a sync directory: held by serialize, verify and deserialize for their whole run, so two of them never
 * work in one directory at once. Its name ends in `.csv` because ace-dt's batch-deserialize takes every other file
 * of the directory (but directories) for a tar, and our listing only files named like tars; it is a header and one
 * row naming its holder:
 *
 *     pid,host,command,since,boot_id,pid_ns,start_ticks
 *     4711,build-7,serialize,2025-01-27T21:16:03.512Z,6f1c…,pid:[4026531836],8812345
 */
export const LOCK_FILENAME = 'batch-serialize.lock.csv';
/** Held for the instant a stale lock is removed: see takeOver. */
export const TAKEOVER_FILENAME = 'batch-serialize.lock.takeover.csv';
const HEADER = ['pid', 'host', 'command', 'since', 'boot_id', 'pid_ns', 'start_ticks'];

export interface LockHolder {
  pid: number;
  host: string;
  /** `serialize`, `serialize --dry-run`, `verify`, `deserialize`. */
  command: string;
  /** ISO 8601 UTC. */
  since: string;
  /** Linux: `/proc/sys/kernel/random/boot_id`, so a lock from before a restart is known stale ('' elsewhere). */
  bootId: string;
  /** Linux: the PID namespace (`pid:[N]`): a process in another one (another container) cannot be seen from here. */
  pidNamespace: string;
  /** Linux: the process's start time in clock ticks since boot, so a reused pid is not taken for the holder. */
  startTicks: string;
}

/** Another live run holds the lock: nothing was touched. */
export class SyncDirBusyError extends Error {
  readonly holder: LockHolder | undefined;
  constructor(message: string, holder?: LockHolder) {
    super(message);
    this.name = 'SyncDirBusyError';
    this.holder = holder;
  }
}

export interface LockOptions {
  command: string;
  /** Said, not failures: a stale lock taken over, a directory read without the lock. */
  note?(message: string): void;
  /**
   * For runs that need not write the directory (verify, a dry run, deserialize, whose record of loaded tars may live
   * elsewhere): a directory this process cannot write (read-only media, where no run can write either) is read
   * without the lock, with a note. Without it such a directory fails.
   */
  readOnly?: boolean;
}

export interface SyncDirLock {
  dir: string;
  path: string;
  holder: LockHolder;
  /** Removes the lock if it is still this run's; never fails. */
  release(): Promise<void>;
}

/** How often the lock is tried when it changed meanwhile (taken over by another run, or released). */
const ATTEMPTS = 5;
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/**
 * Takes the lock of `dir`, created atomically with its holder already in it (written to `LOCK.tmp-PID`, then
 * hard-linked to `LOCK`, which fails if it exists; where hard links are not supported, created with O_EXCL).
 * A lock held by a live process, or by any process of another host, throws SyncDirBusyError. A lock of a process
 * of this host that is gone (or from before a restart) is taken over, with a note. Returns undefined when there is
 * nothing to lock (`dir` does not exist: the caller's own read fails and says so) or, with `readOnly`, when the
 * directory cannot be written.
 */
export async function lockSyncDir(dir: string, options: LockOptions): Promise<SyncDirLock | undefined> {
  const path = join(dir, LOCK_FILENAME);
  if (!(await isDirectory(dir))) return undefined;
  if (options.readOnly) {
    const cannot = await access(dir, constants.W_OK).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => error.code ?? 'EACCES',
    );
    if (cannot !== undefined) {
      const holder = (await readHolder(path).catch(() => undefined))?.holder;
      const held = typeof holder === 'object' ? `; it holds the lock of ${describe(holder)} (copied during a run?)` : '';
      options.note?.(`cannot lock ${dir} (${cannot}): read without the lock${held}`);
      return undefined;
    }
  }
  const me = await thisProcess(options.command);
  const text = formatHolder(me);
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    // A lock that is there is judged before anything is written: a run that is refused touches nothing.
    const existing = await readHolder(path);
    if (existing !== undefined) {
      const stale = staleBecause(existing, me, dir, path); // throws when the holder may be alive
      if (await takeOver(path, existing.text)) options.note?.(`took over the lock of ${describe(existing.holder as LockHolder)}: ${stale}`);
      continue;
    }
    let created: boolean;
    try {
      created = await create(path, text);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (code === 'ENOENT' && !(await isDirectory(dir))) return undefined;
      if (code === 'ENOENT') continue; // our temp file was taken for a dead run's leftover
      throw new Error(`cannot lock ${dir}: ${(error as Error).message}`, { cause: error });
    }
    if (created) {
      await syncDirectory(dir);
      crashPoint('locked');
      return { dir, path, holder: me, release: () => release(path, text) };
    }
  }
  throw new SyncDirBusyError(`another run is using ${dir}: its lock ${path} keeps changing; try again`);
}

/** Runs `work` holding the lock of `dir` (see lockSyncDir), and releases it however `work` ends. */
export async function withSyncDirLock<T>(
  dir: string,
  options: LockOptions,
  work: (lock: SyncDirLock | undefined) => Promise<T>,
): Promise<T> {
  const lock = await lockSyncDir(dir, options);
  try {
    return await work(lock);
  } finally {
    await lock?.release();
  }
}

export function formatHolder(holder: LockHolder): string {
  const { pid, host, command, since, bootId, pidNamespace, startTicks } = holder;
  return formatCsv([HEADER, [String(pid), host, command, since, bootId, pidNamespace, startTicks]]);
}

/** The holder a lock file names, or why it names none. */
export function parseHolder(text: string, path: string): LockHolder | string {
  let fields: string[] | undefined;
  try {
    const records = parseCsv(text, path);
    if (records.length === 2 && records[0]?.fields.join(',') === HEADER.join(',')) fields = records[1]?.fields;
  } catch {
    fields = undefined;
  }
  if (text.trim() === '') return 'it is empty';
  if (fields?.length !== HEADER.length) return `it is not a ${HEADER.join(',')} header and one row`;
  const [pid = '', host = '', command = '', since = '', bootId = '', pidNamespace = '', startTicks = ''] = fields;
  if (!/^[1-9]\d{0,9}$/.test(pid)) return `pid ${JSON.stringify(pid)} is not a process id`;
  if (host === '') return 'it names no host';
  return { pid: Number(pid), host, command, since, bootId, pidNamespace, startTicks };
}

function describe(holder: LockHolder): string {
  return `pid ${holder.pid} on ${holder.host} (${holder.command || 'a run'}${holder.since ? ` since ${holder.since}` : ''})`;
}

/** Whether the holder is gone (why), or throws SyncDirBusyError: alive, or not to be judged from here. */
function staleBecause(existing: { text: string; holder: LockHolder | string }, me: LockHolder, dir: string, path: string): string {
  const { holder } = existing;
  if (typeof holder === 'string') {
    throw new SyncDirBusyError(
      `another run may be using ${dir}: its lock ${path} names no holder (${holder}); ` +
        `if no run is using ${dir}, remove the lock and run again`,
    );
  }
  const busy = (why: string) =>
    new SyncDirBusyError(
      `another run is using ${dir} (pid ${holder.pid} on ${holder.host}): ${holder.command} since ${holder.since}${why}`,
      holder,
    );
  const cannotTell = (where: string) =>
    busy(
      `; the lock ${path} is from ${where}, so this run cannot tell whether that one is alive: ` +
        `if it is not, remove the lock and run again`,
    );
  if (holder.host !== me.host) throw cannotTell('another host');
  if (holder.pidNamespace !== '' && me.pidNamespace !== '' && holder.pidNamespace !== me.pidNamespace) {
    throw cannotTell(`another PID namespace of ${holder.host} (another container?)`);
  }
  if (holder.bootId !== '' && me.bootId !== '' && holder.bootId !== me.bootId) return 'this host restarted since';
  if (!isAlive(holder.pid)) return 'that process is gone';
  const ticks = holder.startTicks === '' ? undefined : startTicksOf(holder.pid);
  if (ticks !== undefined && ticks !== '' && ticks !== holder.startTicks)
    return `that process is gone (pid ${holder.pid} is another process now)`;
  throw busy('');
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** A process of this host (or one this process may not signal, which is alive too). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Moves the stale lock out of the way, under the take-over guard `LOCK.takeover.csv` (created exclusively, holding
 * this pid): only the guard's holder may move the lock, and it moves it only while it still holds the text judged
 * stale, so a live lock taken meanwhile is never moved. True when the stale lock is gone; false when another run
 * holds the guard or the lock changed (the caller looks again). A guard whose process is gone is removed.
 */
async function takeOver(path: string, staleText: string): Promise<boolean> {
  const guard = join(dirname(path), TAKEOVER_FILENAME);
  if (!(await create(guard, String(process.pid)))) {
    const holder = Number(await readFile(guard, 'utf8').catch(() => ''));
    if (Number.isInteger(holder) && holder > 0 && !isAlive(holder)) await rm(guard, { force: true });
    await setTimeout(10 + Math.random() * 40);
    return false;
  }
  try {
    const current = await readFile(path, 'utf8').catch(() => undefined);
    if (current !== staleText) return false;
    await rm(path, { force: true });
    return true;
  } finally {
    await rm(guard, { force: true });
  }
}

/** True when this call created the lock; false when one exists. */
async function create(path: string, text: string): Promise<boolean> {
  const temp = `${path}.tmp-${process.pid}`;
  await writeSynced(temp, text, 'w');
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw error;
  } finally {
    await rm(temp, { force: true });
  }
  try {
    await writeSynced(path, text, 'wx'); // no hard links here (FAT, some network file systems): O_EXCL
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function writeSynced(path: string, text: string, flags: 'w' | 'wx'): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function readHolder(path: string): Promise<{ text: string; holder: LockHolder | string } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return { text, holder: parseHolder(text, path) };
}

async function release(path: string, text: string): Promise<void> {
  try {
    if ((await readFile(path, 'utf8')) !== text) return;
    await unlink(path);
  } catch {
    // gone already, or unreadable: not ours to remove then
  }
}

async function thisProcess(command: string): Promise<LockHolder> {
  const [bootId, pidNamespace] = await Promise.all([
    readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
      (text) => text.trim(),
      () => '',
    ),
    readlink('/proc/self/ns/pid').catch(() => ''),
  ]);
  return {
    pid: process.pid,
    host: hostname(),
    command,
    since: new Date().toISOString(),
    bootId,
    pidNamespace,
    startTicks: startTicksOf(process.pid) ?? '',
  };
}

/** Field 22 of `/proc/PID/stat` (Linux), read synchronously: undefined where there is no /proc or no such process. */
function startTicksOf(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
