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
