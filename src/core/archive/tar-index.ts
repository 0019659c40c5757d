import type { PositionalReader } from './tar-source.ts';

/** Where a regular file's bytes sit in a plain tar file. */
export interface TarMember {
  offset: number;
  size: number;
}

const BLOCK = 512;
/** A pax header or GNU long name is a few hundred bytes; more is not a tar we wrote or ace-dt did. */
const MAX_META_BYTES = 1024 * 1024;
const REGULAR = new Set(['0', '\0', '7']);

/**
 * The regular files of an uncompressed tar, by name (cleaned as tar-reader.ts cleans it: no `./`, no trailing `/`),
 * found by reading the headers alone and stepping over the contents: what lets a blob be read by byte range, and
 * several at once. ustar, GNU and pax headers (pax `path` and `size`, GNU long names); the first end-of-archive block
 * ends it. Reads only: whether the contents are right is the scan's business (tar-scan.ts).
 */
export async function indexPlainTar(handle: PositionalReader, path: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const block = Buffer.alloc(BLOCK);
  let next: { path?: string; size?: number } = {};
  for (let at = 0; ;) {
    const { bytesRead } = await handle.read(block, 0, BLOCK, at);
    if (bytesRead < BLOCK) throw new Error(`${path}: ends inside the header at byte ${at} (truncated?)`);
    if (block.every((byte) => byte === 0)) return members;
    if (!checksumOk(block)) throw new Error(`${path}: the header at byte ${at} is not a tar header (bad checksum)`);
    const type = String.fromCharCode(block[156] as number);
    const own = sizeOf(block, path, at);
    const data = at + BLOCK;
    if (type === 'x' || type === 'L') {
      // Extended headers say more about the entry after them.
      const meta = await readMeta(handle, data, own, path);
      next = type === 'L' ? { ...next, path: cString(meta) } : { ...next, ...paxRecords(meta) };
      at = data + padded(own);
      continue;
    }
    if (type === 'g' || type === 'K') {
      at = data + padded(own); // global pax headers and GNU long link names: nothing a member's place depends on
      continue;
    }
    const size = next.size ?? own;
    if (REGULAR.has(type)) members.set(clean(next.path ?? nameOf(block)), { offset: data, size });
    next = {};
    at = data + padded(size);
  }
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function checksumOk(block: Buffer): boolean {
  let sum = 8 * 0x20; // the checksum field counts as spaces
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i] as number;
  return octal(block.subarray(148, 156)) === sum;
}

/** Octal digits, or GNU's base-256 for sizes past 8 GiB (high bit set). */
function sizeOf(block: Buffer, path: string, at: number): number {
  const field = block.subarray(124, 136);
  let size: number;
  if (((field[0] as number) & 0x80) !== 0) {
    size = (field[0] as number) & 0x7f;
    for (let i = 1; i < field.length; i++) size = size * 256 + (field[i] as number);
  } else size = octal(field);
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`${path}: the header at byte ${at} has no readable size`);
  return size;
}

function octal(field: Buffer): number {
  const text = field
    .toString('latin1')
    .replace(/[\0 ].*$/s, '')
    .trim();
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : Number.NaN;
}

/** The name field, behind the prefix field of a POSIX ustar header (GNU's uses that space otherwise). */
function nameOf(block: Buffer): string {
  const name = cString(block.subarray(0, 100));
  const posix = block.subarray(257, 263).toString('latin1') === 'ustar\0';
  const prefix = posix ? cString(block.subarray(345, 500)) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

function clean(name: string): string {
  return name.replace(/^(?:\.\/)+/, '').replace(/\/+$/, '');
}

async function readMeta(handle: PositionalReader, at: number, size: number, path: string): Promise<Buffer> {
  if (size > MAX_META_BYTES) throw new Error(`${path}: a ${size}-byte extended header at byte ${at - BLOCK}`);
  const meta = Buffer.alloc(size);
  const { bytesRead } = await handle.read(meta, 0, size, at);
  if (bytesRead < size) throw new Error(`${path}: ends inside the extended header at byte ${at - BLOCK} (truncated?)`);
  return meta;
}

/** `LENGTH KEY=VALUE\n` records: the `path` and `size` that override the next header's. */
function paxRecords(meta: Buffer): { path?: string; size?: number } {
  const found: { path?: string; size?: number } = {};
  for (let at = 0; at < meta.length;) {
    const space = meta.indexOf(0x20, at);
    const length = space === -1 ? Number.NaN : Number(meta.subarray(at, space).toString('latin1'));
    if (!Number.isSafeInteger(length) || length <= 0) break;
    const record = meta.subarray(space + 1, at + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    const [key, value] = [record.slice(0, equals), record.slice(equals + 1)];
    if (key === 'path') found.path = value;
    if (key === 'size' && /^\d+$/.test(value)) found.size = Number(value);
    at += length;
  }
  return found;
}
