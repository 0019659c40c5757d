/**
 * Go's encoding/csv Reader (src/encoding/csv/reader.go, Go 1.24: readLine, readRecord), byte for byte: lines
 * end at LF (CRLF folded, a CR before EOF dropped), blank lines skipped, comment lines only when the comment
 * character is the line's first rune, fields quoted per RFC 4180, ParseError with 1-based byte columns.
 */
import { AceDtError } from './errors.ts';

export interface GoCsvOptions {
  /** Reader.Comment, e.g. '#'. */
  comment?: string;
  /** Reader.FieldsPerRecord: 0 (Go's default) = as many as the first record, negative = any. */
  fieldsPerRecord?: number;
  trimLeadingSpace?: boolean;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/** A csv.ParseError or errInvalidDelim: its Error() text. */
export class GoCsvError extends AceDtError {}

export class GoCsvReader {
  private readonly input: Buffer;
  private readonly options: GoCsvOptions;
  private offset = 0;
  private numLine = 0;
  private fieldsPerRecord: number;

  constructor(input: Buffer, options: GoCsvOptions = {}) {
    this.input = input;
    this.options = options;
    this.fieldsPerRecord = options.fieldsPerRecord ?? 0;
  }

  /** Reader.ReadAll: every record, or the first error. */
  readAll(): string[][] {
    const records: string[][] = [];
    for (let record = this.read(); record !== undefined; record = this.read()) records.push(record);
    return records;
  }

  /** Reader.Read: the next record, undefined at io.EOF; throws GoCsvError. */
  read(): string[] | undefined {
    const comment = this.options.comment === undefined ? undefined : Buffer.from(this.options.comment);
    let line: Buffer = Buffer.alloc(0);
    let eof = false;
    for (;;) {
      ({ line, eof } = this.readLine());
      if (eof) return undefined;
      if (comment !== undefined && line.subarray(0, comment.length).equals(comment)) continue;
      if (line.length === lengthNL(line)) continue;
      break;
    }
    const recLine = this.numLine;
    const fields: Buffer[] = [];
    let field: Buffer[] = [];
    const pos = { line: this.numLine, col: 1 };
    const fail = (line: number, column: number, message: string) => {
      throw new GoCsvError(
        recLine !== line
          ? `record on line ${recLine}; parse error on line ${line}, column ${column}: ${message}`
          : `parse error on line ${line}, column ${column}: ${message}`,
      );
    };
    parseField: for (;;) {
      if (this.options.trimLeadingSpace === true) {
        let i = indexOfNonSpace(line);
        if (i < 0) {
          i = line.length;
          pos.col -= lengthNL(line);
        }
        line = line.subarray(i);
        pos.col += i;
      }
      if (line.length === 0 || line[0] !== QUOTE) {
        const i = line.indexOf(COMMA);
        const text = i >= 0 ? line.subarray(0, i) : line.subarray(0, line.length - lengthNL(line));
        const j = text.indexOf(QUOTE);
        if (j >= 0) fail(this.numLine, pos.col + j, 'bare " in non-quoted-field');
        fields.push(Buffer.from(text));
        if (i >= 0) {
          line = line.subarray(i + 1);
          pos.col += i + 1;
          continue parseField;
        }
        break parseField;
      }
      line = line.subarray(1);
      pos.col += 1;
      field = [];
      for (;;) {
        const i = line.indexOf(QUOTE);
        if (i >= 0) {
          field.push(line.subarray(0, i));
          line = line.subarray(i + 1);
          pos.col += i + 1;
          if (line[0] === QUOTE) {
            field.push(Buffer.from('"'));
            line = line.subarray(1);
            pos.col += 1;
          } else if (line[0] === COMMA) {
            line = line.subarray(1);
            pos.col += 1;
            fields.push(Buffer.concat(field));
            continue parseField;
          } else if (lengthNL(line) === line.length) {
            fields.push(Buffer.concat(field));
            break parseField;
          } else {
            fail(this.numLine, pos.col - 1, 'extraneous or missing " in quoted-field');
          }
        } else if (line.length > 0) {
          field.push(line);
          pos.col += line.length;
          const next = this.readLine();
          line = next.line;
          if (line.length > 0) {
            pos.line++;
            pos.col = 1;
          }
        } else {
          // Abrupt end of file: an error without LazyQuotes (the model has no I/O errors, so errRead is nil here).
          fail(pos.line, pos.col, 'extraneous or missing " in quoted-field');
        }
      }
    }
    const record = fields.map((bytes) => bytes.toString('utf8'));
    if (this.fieldsPerRecord > 0) {
      if (record.length !== this.fieldsPerRecord) throw new GoCsvError(`record on line ${recLine}: wrong number of fields`);
    } else if (this.fieldsPerRecord === 0) this.fieldsPerRecord = record.length;
    return record;
  }

  /** readLine: through the next LF, CRLF folded to LF; `eof` only when nothing was left. */
  private readLine(): { line: Buffer; eof: boolean } {
    const rest = this.input.subarray(this.offset);
    this.numLine++;
    if (rest.length === 0) return { line: Buffer.alloc(0), eof: true };
    const nl = rest.indexOf(LF);
    let line = Buffer.from(nl < 0 ? rest : rest.subarray(0, nl + 1));
    this.offset += line.length;
    if (nl < 0 && line.at(-1) === CR) line = line.subarray(0, -1);
    const n = line.length;
    if (n >= 2 && line[n - 2] === CR && line[n - 1] === LF) {
      line[n - 2] = LF;
      line = line.subarray(0, n - 1);
    }
    return { line, eof: false };
  }
}

function lengthNL(line: Buffer): number {
  return line.length > 0 && line.at(-1) === LF ? 1 : 0;
}

/** bytes.IndexFunc(line, not unicode.IsSpace): a byte offset. */
function indexOfNonSpace(line: Buffer): number {
  const text = line.toString('utf8');
  let bytes = 0;
  for (const char of text) {
    if (!/^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u.test(char)) return bytes;
    bytes += Buffer.byteLength(char);
  }
  return -1;
}
