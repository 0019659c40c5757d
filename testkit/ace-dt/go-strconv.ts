/** Go's strconv, as far as ace-dt's read path uses it (directly, and through archive/tar and encoding/json). */
import { AceDtError } from './errors.ts';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** strconv.Atoi on a 64-bit machine: an optional sign and decimal digits, nothing else (no spaces, no `_`). */
export function atoi(s: string): number {
  const syntax = () => new AceDtError(`strconv.Atoi: parsing ${quote(s)}: invalid syntax`);
  const match = /^([+-]?)([0-9]+)$/.exec(s);
  if (match === null) throw syntax();
  const value = BigInt(`${match[1] === '-' ? '-' : ''}${match[2]}`);
  if (value < INT64_MIN || value > INT64_MAX) throw new AceDtError(`strconv.Atoi: parsing ${quote(s)}: value out of range`);
  return Number(value);
}

/** strconv.ParseInt(s, 10, 64), undefined where Go returns an error (callers map it to their own error). */
export function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const value = BigInt(s);
  return value < INT64_MIN || value > INT64_MAX ? undefined : value;
}

/** strconv.ParseUint(s, 8, 64), undefined on an error. */
export function parseOctalUint64(s: string): bigint | undefined {
  if (!/^[0-7]+$/.test(s)) return undefined;
  const value = BigInt(`0o${s}`);
  return value > UINT64_MAX ? undefined : value;
}

/** Reinterprets a uint64 as Go's int64(x) does. */
export function toInt64(value: bigint): bigint {
  return BigInt.asIntN(64, value);
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const NAMED_ESCAPES: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
};

/** strconv.Quote (and so `%q`): Go's escapes for what is not printable. */
export function quote(s: string): string {
  let out = '"';
  for (const char of s) {
    const code = char.codePointAt(0) as number;
    if (char === '"' || char === '\\') out += `\\${char}`;
    else if (PRINTABLE.test(char)) out += char;
    else if (NAMED_ESCAPES[char] !== undefined) out += NAMED_ESCAPES[char];
    else if (code < 0x80) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code < 0x10000) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += `\\U${code.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}
