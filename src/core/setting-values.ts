import { parseCompression, type Compression } from './archive/compression.ts';
import { TIMEOUT_RANGE } from './defaults.ts';
import { InputError } from './input-error.ts';
import type { Timeouts } from './registry/transport.ts';
import type { DedupScope } from './sync-dir/dedup-scope.ts';

/**
 * Checks for the values a user sets (CLI options, Action inputs); `what` names the option or input in the
 * message, e.g. `--dedup-scope` or `input dedup-scope`.
 */
export function parseDedupScope(what: string, value: string): DedupScope {
  if (value === 'name' || value === 'all') return value;
  throw new InputError(`${what} ${JSON.stringify(value)}: use name or all`);
}

export function parseWholeNumber(what: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || value < min || value > max) {
    throw new InputError(`${what} ${JSON.stringify(text)}: a whole number from ${min} to ${max}`);
  }
  return value;
}

/** The three waits of a registry request, given in whole seconds; `what` names each option or input. */
export function parseTimeouts(
  what: (wait: 'connect' | 'response' | 'idle') => string,
  seconds: { connect: string; response: string; idle: string },
): Timeouts {
  const ms = (wait: 'connect' | 'response' | 'idle') => parseWholeNumber(what(wait), seconds[wait], ...TIMEOUT_RANGE) * 1000;
  return { connectTimeoutMs: ms('connect'), headersTimeoutMs: ms('response'), bodyTimeoutMs: ms('idle') };
}

export function parseCompressionSetting(what: string, value: string): Compression {
  try {
    return parseCompression(value);
  } catch (error) {
    throw new InputError(`${what}: ${(error as Error).message}`);
  }
}

const LEVELS: Record<Compression, [number, number] | undefined> = { none: undefined, gzip: [0, 9], zstd: [1, 22] };

export function parseCompressionLevel(what: string, compression: Compression, text: string): number {
  const range = LEVELS[compression];
  if (!range) throw new InputError(`${what} needs compression gzip or zstd`);
  return parseWholeNumber(what, text, ...range);
}

export function checkTrackerFilename(what: string, name: string): string {
  if (name === '' || /[/\\]/.test(name) || name.startsWith('.')) {
    throw new InputError(`${what} ${JSON.stringify(name)}: a plain file name inside the sync directory`);
  }
  return name;
}

/**
 * The smallest `--max-file-size`. A part holds at least a few tar headers and a compressor's frame; 64 KiB is small
 * enough that a test splits a tar of a few MB into several parts, and no medium anyone splits for is smaller.
 */
export const MIN_FILE_SIZE = 64 * 1024;

const SIZE = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(i)?)?B?$/i;
const POWERS: Record<string, number> = { K: 1, M: 2, G: 3, T: 4 };

/**
 * A file size: whole bytes (`1048576`), or a number with K, M, G or T (powers of 1000) or Ki, Mi, Gi, Ti (powers of
 * 1024), and an optional trailing B: `4700M`, `4.7G`, `2GiB`, `650MB`. At least MIN_FILE_SIZE, at most 2^53 - 1.
 */
export function parseFileSize(what: string, text: string): number {
  const match = SIZE.exec(text.trim());
  const fail = (why: string) =>
    new InputError(`${what} ${JSON.stringify(text)}: ${why} (bytes, or a number with K M G T or Ki Mi Gi Ti, e.g. 4.7G, 650MB, 2GiB)`);
  if (match === null) throw fail('not a size');
  const [, number, unit, binary] = match as unknown as [string, string, string | undefined, string | undefined];
  if (unit === undefined && number.includes('.')) throw fail('a whole number of bytes');
  const scale = unit === undefined ? 1 : (binary ? 1024 : 1000) ** (POWERS[unit.toUpperCase()] as number);
  const bytes = Math.floor(Number(number) * scale);
  if (!Number.isSafeInteger(bytes)) throw fail('too large');
  if (bytes < MIN_FILE_SIZE) throw fail(`less than the smallest part, ${MIN_FILE_SIZE} bytes (64 KiB)`);
  return bytes;
}
