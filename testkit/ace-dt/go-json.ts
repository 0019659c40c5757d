/**
 * Go's encoding/json as ace-dt's read path meets it: json.Unmarshal (the whole input must be one value:
 * scanner.go's checkValid), json.Decoder.Decode (the first value; what follows is not read), and decoding into
 * the image-spec structs (decode.go): field names matched exactly, else case-insensitively; unknown fields
 * ignored; null leaves the zero value; the first type mismatch is the error. Messages are Go's.
 */
import { AceDtError, HarnessLimit } from './errors.ts';
import { parseInt64, quote } from './go-strconv.ts';

/** A JSON number with its source text, as Go's decoder parses it per target type. */
class GoNumber {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

const SPACE = new Set([0x20, 0x09, 0x0d, 0x0a]);

class Eof {}

/** json.Unmarshal's validity check and parse: a value, spaces, nothing else. */
export function unmarshalJson(bytes: Buffer): unknown {
  try {
    const end = scanValue(bytes, 0);
    const after = skipSpace(bytes, end);
    if (after < bytes.length) syntaxError(bytes[after] as number, 'after top-level value');
  } catch (error) {
    if (error instanceof Eof) throw new AceDtError('unexpected end of JSON input');
    throw error;
  }
  return parseNumbersAsText(bytes);
}

/** json.NewDecoder(r).Decode: the first value; io.EOF before any, io.ErrUnexpectedEOF inside one. */
export function decodeFirstJson(bytes: Buffer): unknown {
  const start = skipSpace(bytes, 0);
  if (start === bytes.length) throw new AceDtError('EOF', 'EOF');
  let end: number;
  try {
    end = scanValue(bytes, start);
  } catch (error) {
    if (error instanceof Eof) throw new AceDtError('unexpected EOF', 'unexpected EOF');
    throw error;
  }
  return parseNumbersAsText(bytes.subarray(start, end));
}

function parseNumbersAsText(bytes: Buffer): unknown {
  // The reviver's third argument (JSON.parse source text access) keeps each number's literal.
  const reviver = (_key: string, value: unknown, context?: { source?: string }) =>
    typeof value === 'number' ? new GoNumber(context?.source ?? String(value)) : value;
  return JSON.parse(bytes.toString('utf8'), reviver as (key: string, value: unknown) => unknown);
}

function skipSpace(bytes: Buffer, i: number): number {
  while (i < bytes.length && SPACE.has(bytes[i] as number)) i++;
  return i;
}

/** The scanner's states as recursive descent: the index after the value; throws Eof or the SyntaxError. */
function scanValue(b: Buffer, from: number): number {
  let i = skipSpace(b, from);
  const at = (index: number): number => {
    if (index >= b.length) throw new Eof();
    return b[index] as number;
  };
  const c = at(i);
  if (c === 0x7b) {
    i = skipSpace(b, i + 1);
    if (at(i) === 0x7d) return i + 1;
    for (;;) {
      if (at(i) !== 0x22) syntaxError(at(i), 'looking for beginning of object key string');
      i = skipSpace(b, scanString(b, i));
      if (at(i) !== 0x3a) syntaxError(at(i), 'after object key');
      i = skipSpace(b, scanValue(b, i + 1));
      if (at(i) === 0x7d) return i + 1;
      if (at(i) !== 0x2c) syntaxError(at(i), 'after object key:value pair');
      i = skipSpace(b, i + 1);
    }
  }
  if (c === 0x5b) {
    i = skipSpace(b, i + 1);
    if (at(i) === 0x5d) return i + 1;
    for (;;) {
      i = skipSpace(b, scanValue(b, i));
      if (at(i) === 0x5d) return i + 1;
      if (at(i) !== 0x2c) syntaxError(at(i), 'after array element');
      i++;
    }
  }
  if (c === 0x22) return scanString(b, i);
  if (c === 0x2d || isDigit(c)) return scanNumber(b, i, at);
  for (const word of ['true', 'false', 'null']) {
    if (c !== word.charCodeAt(0)) continue;
    for (let k = 1; k < word.length; k++) {
      if (at(i + k) !== word.charCodeAt(k)) syntaxError(at(i + k), `in literal ${word} (expecting ${quoteChar(word.charCodeAt(k))})`);
    }
    return i + word.length;
  }
  return syntaxError(c, 'looking for beginning of value');
}

function scanString(b: Buffer, quoteAt: number): number {
  for (let i = quoteAt + 1; ; i++) {
    if (i >= b.length) throw new Eof();
    const c = b[i] as number;
    if (c === 0x22) return i + 1;
    if (c < 0x20) syntaxError(c, 'in string literal');
    if (c !== 0x5c) continue;
    i++;
    if (i >= b.length) throw new Eof();
    const escape = b[i] as number;
    if (escape === 0x75) {
      for (let k = 1; k <= 4; k++) {
        if (i + k >= b.length) throw new Eof();
        if (!/[0-9a-fA-F]/.test(String.fromCharCode(b[i + k] as number)))
          syntaxError(b[i + k] as number, 'in \\u hexadecimal character escape');
      }
      i += 4;
    } else if (!'bfnrt\\/"'.includes(String.fromCharCode(escape))) syntaxError(escape, 'in string escape code');
  }
}

function scanNumber(b: Buffer, start: number, at: (index: number) => number): number {
  let i = start;
  if (b[i] === 0x2d) {
    i++;
    if (!isDigit(at(i))) syntaxError(at(i), 'in numeric literal');
  }
  if (b[i] === 0x30) i++;
  else while (i < b.length && isDigit(b[i] as number)) i++;
  if (i < b.length && b[i] === 0x2e) {
    i++;
    if (!isDigit(at(i))) syntaxError(at(i), 'after decimal point in numeric literal');
    while (i < b.length && isDigit(b[i] as number)) i++;
  }
  if (i < b.length && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (at(i) === 0x2b || at(i) === 0x2d) i++;
    if (!isDigit(at(i))) syntaxError(at(i), 'in exponent of numeric literal');
    while (i < b.length && isDigit(b[i] as number)) i++;
  }
  return i;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function syntaxError(c: number, context: string): never {
  throw new AceDtError(`invalid character ${quoteChar(c)} ${context}`);
}

/** scanner.go's quoteChar: a byte as a Go character literal. */
function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === 0x22) return `'"'`;
  return `'${quote(String.fromCharCode(c)).slice(1, -1)}'`;
}

/** A Go type as decode.go sees it; `name` is reflect.Type.String(). */
export type GoType =
  | { kind: 'string'; name: string }
  | { kind: 'int'; name: string }
  | { kind: 'bytes'; name: string }
  | { kind: 'stringMap'; name: string }
  | { kind: 'slice'; name: string; elem: GoType }
  | { kind: 'struct'; name: string; fields: Record<string, GoType> }
  | { kind: 'pointer'; name: string; elem: GoType };

interface Context {
  struct: string | undefined;
  path: string[];
}

/** Decodes a parsed value into `type`: zero values where absent or null, Go's UnmarshalTypeError on a mismatch. */
export function decodeAs(value: unknown, type: GoType, context: Context = { struct: undefined, path: [] }): unknown {
  if (value === null) return zeroOf(type);
  const mismatch = (what: string): never => {
    const into =
      context.struct !== undefined || context.path.length > 0
        ? `Go struct field ${context.struct ?? ''}.${context.path.join('.')}`
        : 'Go value';
    throw new AceDtError(`json: cannot unmarshal ${what} into ${into} of type ${type.kind === 'pointer' ? type.elem.name : type.name}`);
  };
  const kind = value instanceof GoNumber ? 'number' : Array.isArray(value) ? 'array' : typeof value === 'object' ? 'object' : typeof value;
  switch (type.kind) {
    case 'string':
      return typeof value === 'string' ? value : mismatch(kind);
    case 'int': {
      if (!(value instanceof GoNumber)) return mismatch(kind);
      const parsed = parseInt64(value.text);
      if (parsed === undefined) return mismatch(`number ${value.text}`);
      if (parsed > BigInt(Number.MAX_SAFE_INTEGER) || parsed < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new HarnessLimit(`the model keeps integers as JavaScript numbers: ${value.text} does not fit`);
      }
      return Number(parsed);
    }
    case 'bytes':
      // []byte from a base64 string; the model does not check the base64 (nothing on ace-dt's path reads it).
      return typeof value === 'string' || kind === 'array' ? value : mismatch(kind);
    case 'stringMap': {
      if (kind !== 'object') return mismatch(kind);
      const map = new Map<string, string>();
      for (const [key, entry] of Object.entries(value as object)) {
        const decoded = decodeAs(entry, { kind: 'string', name: 'string' }, { struct: context.struct, path: [...context.path, key] });
        map.set(key, decoded as string);
      }
      return map;
    }
    case 'slice':
      if (kind !== 'array') return mismatch(kind);
      return (value as unknown[]).map((element) => decodeAs(element, type.elem, context));
    case 'pointer':
      return decodeAs(value, type.elem, context);
    case 'struct': {
      if (kind !== 'object') return mismatch(kind);
      const out = zeroOf(type) as Record<string, unknown>;
      const names = Object.keys(type.fields);
      for (const [key, entry] of Object.entries(value as object)) {
        const field = names.find((name) => name === key) ?? names.find((name) => name.toLowerCase() === key.toLowerCase());
        if (field === undefined) continue;
        out[field] = decodeAs(entry, type.fields[field] as GoType, {
          struct: type.name.replace(/^.*\./, ''),
          path: [...context.path, field],
        });
      }
      return out;
    }
  }
}

function zeroOf(type: GoType): unknown {
  switch (type.kind) {
    case 'string':
      return '';
    case 'int':
      return 0;
    case 'bytes':
    case 'pointer':
      return undefined;
    case 'stringMap':
      return new Map<string, string>();
    case 'slice':
      return [];
    case 'struct':
      return Object.fromEntries(Object.entries(type.fields).map(([name, field]) => [name, zeroOf(field)]));
  }
}
