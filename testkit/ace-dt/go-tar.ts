/**
 * Go's archive/tar Reader (src/archive/tar/reader.go, Go 1.24: Next, readHeader, handleRegularFile, mergePAX,
 * parsePAX, discard, tryReadFull; format.go getFormat; strconv.go parseNumeric, parsePAXRecord) over a stream:
 * the ends it accepts (EOF at a block boundary, one zero block, a padding cut short) and the errors it gives
 * (ErrHeader, io.ErrUnexpectedEOF, ErrFieldTooLong), sticky as Reader.err is. Sparse files are not modelled.
 */
import { AceDtError, HarnessLimit, goErrors } from './errors.ts';
import { parseInt64, parseOctalUint64, toInt64 } from './go-strconv.ts';

export interface GoTarHeader {
  name: string;
  linkname: string;
  /** The type byte as a character, after Go's fix-ups ('\0' becomes '0', or '5' for a name ending in '/'). */
  typeflag: string;
  size: number;
  mode: bigint;
}

const BLOCK = 512;
const MAX_SPECIAL_FILE = 1 << 20;
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);
const errHeader = () => new AceDtError('archive/tar: invalid tar header');

type Format = 'v7' | 'ustar' | 'gnu' | 'star';

/** Bytes pulled from a stream of chunks: up to n, fewer only at its end. */
class ByteSource {
  private pending: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private readonly chunks: AsyncIterator<Buffer>;

  constructor(chunks: AsyncIterable<Buffer>) {
    this.chunks = chunks[Symbol.asyncIterator]();
  }

  async read(n: number): Promise<Buffer> {
    while (this.buffered < n && !this.ended) {
      const next = await this.chunks.next();
      if (next.done === true) this.ended = true;
      else {
        this.pending.push(next.value);
        this.buffered += next.value.length;
      }
    }
    const first = this.pending[0];
    const all = first !== undefined && first.length >= n ? first : Buffer.concat(this.pending);
    const out = all.subarray(0, n);
    this.pending = [all.subarray(out.length), ...(all === first ? this.pending.slice(1) : [])];
    this.buffered -= out.length;
    return out;
  }

  /** Drops up to n bytes without holding them; how many were there. */
  async skip(n: number): Promise<number> {
    let skipped = 0;
    while (skipped < n) {
      const piece = await this.read(Math.min(n - skipped, 1 << 20));
      if (piece.length === 0) break;
      skipped += piece.length;
    }
    return skipped;
  }
}

export class GoTarReader {
  private readonly source: ByteSource;
  private readonly sourceError: (error: unknown) => Error;
  /** Reader.err: once set, every Next and Read returns it (undefined result = io.EOF). */
  private sticky: Error | 'EOF' | undefined;
  private remaining = 0;
  private pad = 0;

  /** `sourceError` turns what the stream throws (a decompressor's failure) into the error Go's reader would give. */
  constructor(chunks: AsyncIterable<Buffer>, sourceError: (error: unknown) => Error) {
    this.source = new ByteSource(chunks);
    this.sourceError = sourceError;
  }

  /** Reader.Next: the next entry's header, undefined at io.EOF. */
  async next(): Promise<GoTarHeader | undefined> {
    if (this.sticky === 'EOF') return undefined;
    if (this.sticky !== undefined) throw this.sticky;
    try {
      const header = await this.nextHeader();
      if (header === undefined) this.sticky = 'EOF';
      return header;
    } catch (error) {
      this.sticky = error as Error;
      throw error;
    }
  }

  /**
   * Reader.Read looped as io.ReadFull does: up to n bytes of the entry; fewer at its end, or when the stream
   * breaks (then the next call throws, as Reader.err is sticky).
   */
  async read(n: number): Promise<Buffer> {
    if (this.sticky !== undefined && this.sticky !== 'EOF') throw this.sticky;
    const want = Math.min(n, this.remaining);
    if (want === 0) return Buffer.alloc(0);
    let got: Buffer;
    try {
      got = await this.pull(want);
    } catch (error) {
      this.sticky = error as Error;
      throw error;
    }
    this.remaining -= got.length;
    if (got.length < want) {
      this.sticky = goErrors.unexpectedEof();
      if (got.length === 0) throw this.sticky;
    }
    return got;
  }

  /** io.ReadAll of the rest of the entry (at most `limit` bytes, else HarnessLimit) and the error that cut it short, if any. */
  async readRest(limit: number): Promise<{ data: Buffer; error: Error | undefined }> {
    if (this.remaining > limit)
      throw new HarnessLimit(`an entry of ${this.remaining} bytes where the model reads it whole (limit ${limit})`);
    const expected = this.remaining;
    const data = await this.read(expected).catch(() => Buffer.alloc(0));
    return { data, error: data.length < expected ? (this.sticky as Error) : undefined };
  }

  private async pull(n: number): Promise<Buffer> {
    try {
      return await this.source.read(n);
    } catch (error) {
      throw this.sourceError(error);
    }
  }

  private async discard(n: number): Promise<number> {
    try {
      return await this.source.skip(n);
    } catch (error) {
      throw this.sourceError(error);
    }
  }

  private async nextHeader(): Promise<GoTarHeader | undefined> {
    let pax: Map<string, string> | undefined;
    let gnuLongName = '';
    let gnuLongLink = '';
    for (;;) {
      if ((await this.discard(this.remaining)) < this.remaining) throw goErrors.unexpectedEof();
      this.remaining = 0;
      // tryReadFull of the padding: cut short, it is io.EOF (the archive simply ends).
      if ((await this.pull(this.pad)).length < this.pad) return undefined;
      this.pad = 0;

      const header = await this.readHeader();
      if (header === undefined) return undefined;
      this.handleRegularFile(header);
      if (header.typeflag === 'x' || header.typeflag === 'g') {
        pax = parsePax(await this.readSpecialFile());
        if (header.typeflag === 'g') {
          mergePax(header, pax, true);
          return { name: header.name, linkname: '', typeflag: 'g', size: 0, mode: 0n };
        }
        continue;
      }
      if (header.typeflag === 'L' || header.typeflag === 'K') {
        const value = cString(await this.readSpecialFile());
        if (header.typeflag === 'L') gnuLongName = value;
        else gnuLongLink = value;
        continue;
      }
      mergePax(header, pax ?? new Map(), false);
      if (gnuLongName !== '') header.name = gnuLongName;
      if (gnuLongLink !== '') header.linkname = gnuLongLink;
      if (header.typeflag === '\0') header.typeflag = header.name.endsWith('/') ? '5' : '0';
      this.handleRegularFile(header);
      if (header.typeflag === 'S' || [...(pax?.keys() ?? [])].some((key) => key.startsWith('GNU.sparse.'))) {
        throw new HarnessLimit(`entry ${JSON.stringify(header.name)} is a GNU sparse file: the model does not read those`);
      }
      return header;
    }
  }

  private handleRegularFile(header: GoTarHeader): void {
    const size = HEADER_ONLY.has(header.typeflag) ? 0 : header.size;
    if (size < 0) throw errHeader();
    this.remaining = size;
    this.pad = (BLOCK - (size % BLOCK)) % BLOCK;
  }

  /** readSpecialFile: the entry's content, at most 1 MiB. */
  private async readSpecialFile(): Promise<Buffer> {
    const want = Math.min(this.remaining, MAX_SPECIAL_FILE + 1);
    const data = await this.read(want);
    if (data.length > MAX_SPECIAL_FILE) throw new AceDtError('archive/tar: header field too long');
    if (data.length < want) throw this.sticky as Error;
    return data;
  }

  /** readHeader: two zero blocks (or one, or none, then EOF) end the archive. */
  private async readHeader(): Promise<GoTarHeader | undefined> {
    const block = await this.readBlock();
    if (block === undefined) return undefined;
    if (isZero(block)) {
      const second = await this.readBlock();
      if (second === undefined || isZero(second)) return undefined;
      throw errHeader();
    }
    const format = formatOf(block);
    if (format === undefined) throw errHeader();
    const p = new FieldParser();
    const header: GoTarHeader = {
      typeflag: String.fromCharCode(block[156] as number),
      name: cString(block.subarray(0, 100)),
      linkname: cString(block.subarray(157, 257)),
      size: safeNumber(p.numeric(block.subarray(124, 136))),
      mode: p.numeric(block.subarray(100, 108)),
    };
    p.numeric(block.subarray(108, 116));
    p.numeric(block.subarray(116, 124));
    p.numeric(block.subarray(136, 148));
    if (format !== 'v7') {
      p.numeric(block.subarray(329, 337));
      p.numeric(block.subarray(337, 345));
      let prefix = '';
      if (format === 'ustar') prefix = cString(block.subarray(345, 500));
      if (format === 'star') {
        prefix = cString(block.subarray(345, 476));
        p.numeric(block.subarray(476, 488));
        p.numeric(block.subarray(488, 500));
      }
      if (format === 'gnu') {
        // Old Go writers put a prefix where GNU keeps atime and ctime: read as a prefix when those do not parse.
        const times = new FieldParser();
        if (block[345] !== 0) times.numeric(block.subarray(345, 357));
        if (block[357] !== 0) times.numeric(block.subarray(357, 369));
        const fallback = cString(block.subarray(345, 500));
        if (times.failed && [...fallback].every((char) => char.charCodeAt(0) < 0x80)) prefix = fallback;
      }
      if (prefix !== '') header.name = `${prefix}/${header.name}`;
    }
    if (p.failed) throw errHeader();
    return header;
  }

  /** io.ReadFull of one block: undefined for io.EOF (nothing read), io.ErrUnexpectedEOF when cut short. */
  private async readBlock(): Promise<Buffer | undefined> {
    const block = await this.pull(BLOCK);
    if (block.length === 0) return undefined;
    if (block.length < BLOCK) throw goErrors.unexpectedEof();
    return block;
  }
}

/** parser.parseNumeric: base-256 when the high bit is set, else octal; a failure marks the header invalid. */
class FieldParser {
  failed = false;

  numeric(field: Buffer): bigint {
    if (field.length > 0 && ((field[0] as number) & 0x80) !== 0) {
      const inverse = ((field[0] as number) & 0x40) !== 0 ? 0xff : 0;
      let x = 0n;
      for (let i = 0; i < field.length; i++) {
        let c = (field[i] as number) ^ inverse;
        if (i === 0) c &= 0x7f;
        if (x >> 56n > 0n) return this.fail();
        x = (x << 8n) | BigInt(c);
      }
      if (x >> 63n > 0n) return this.fail();
      return inverse === 0xff ? ~x : x;
    }
    return this.octal(field);
  }

  octal(field: Buffer): bigint {
    const trimmed = field.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
    if (trimmed === '') return 0n;
    const value = parseOctalUint64(cString(Buffer.from(trimmed, 'latin1')));
    return value === undefined ? this.fail() : toInt64(value);
  }

  private fail(): bigint {
    this.failed = true;
    return 0n;
  }
}

/** block.getFormat: the checksum (unsigned or signed sum) must match, then the magic decides. */
function formatOf(block: Buffer): Format | undefined {
  const p = new FieldParser();
  const recorded = p.octal(block.subarray(148, 156));
  let unsigned = 0n;
  let signed = 0n;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += BigInt(c);
    signed += BigInt(c > 127 ? c - 256 : c);
  }
  if (p.failed || (recorded !== unsigned && recorded !== signed)) return undefined;
  const magic = block.toString('latin1', 257, 263);
  const version = block.toString('latin1', 263, 265);
  if (magic === 'ustar\0' && block.toString('latin1', 508, 512) === 'tar\0') return 'star';
  if (magic === 'ustar\0') return 'ustar';
  if (magic === 'ustar ' && version === ' \0') return 'gnu';
  return 'v7';
}

/** parsePAX: `LEN KEY=VALUE\n` records (LEN counts the whole record in bytes). */
function parsePax(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let rest = data.toString('latin1');
  while (rest.length > 0) {
    const space = rest.indexOf(' ');
    if (space < 0) throw errHeader();
    const length = parseInt64(rest.slice(0, space));
    if (length === undefined || length < 5n || length > BigInt(rest.length) || Number(length) - (space + 1) <= 0) throw errHeader();
    const record = rest.slice(space + 1, Number(length) - 1);
    if (rest[Number(length) - 1] !== '\n') throw errHeader();
    const equals = record.indexOf('=');
    if (equals <= 0) throw errHeader();
    const key = Buffer.from(record.slice(0, equals), 'latin1').toString('utf8');
    const value = Buffer.from(record.slice(equals + 1), 'latin1').toString('utf8');
    const nulChecked = ['path', 'linkpath', 'uname', 'gname'].includes(key) ? value : key;
    if (nulChecked.includes('\0')) throw errHeader();
    records.set(key, value);
    rest = rest.slice(Number(length));
  }
  return records;
}

/** mergePAX: path, linkpath and size apply; uid, gid and times must parse. A global header ignores the error. */
function mergePax(header: GoTarHeader, records: Map<string, string>, ignoreErrors: boolean): void {
  for (const [key, value] of records) {
    if (value === '') continue;
    let ok = true;
    if (key === 'path') header.name = value;
    else if (key === 'linkpath') header.linkname = value;
    else if (key === 'uid' || key === 'gid') ok = parseInt64(value) !== undefined;
    else if (key === 'atime' || key === 'mtime' || key === 'ctime')
      ok = /^[+-]?[0-9]+(\.[0-9]*)?$/.test(value) && parseInt64(value.split('.')[0] as string) !== undefined;
    else if (key === 'size') {
      const size = parseInt64(value);
      ok = size !== undefined;
      if (size !== undefined) header.size = safeNumber(size);
    }
    if (!ok && !ignoreErrors) throw errHeader();
    if (!ok) return;
  }
}

/** parser.parseString: up to the first NUL. */
function cString(field: Buffer): string {
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? field.length : nul).toString('utf8');
}

function isZero(block: Buffer): boolean {
  return block.every((byte) => byte === 0);
}

function safeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new HarnessLimit(`a tar size of ${value} bytes does not fit the model's numbers`);
  return Number(value);
}
