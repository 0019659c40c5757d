/**
 * Azure Blob Storage, as much of it as the Azure SDK in @actions/cache and @actions/artifact uses on block blobs:
 * single-shot `PUT` (x-ms-blob-type: BlockBlob), `PUT ?comp=block&blockid=` + `PUT ?comp=blocklist` (XML),
 * `GET` whole or by `x-ms-range`/`Range`, `HEAD`. Blobs live in files under `dir`; access needs a URL signed here
 * (`sp` r or cw, `se` expiry, optional `rscd` content-disposition override, as Azure SAS has them).
 * For an IP host the SDK takes the first path segment as the account, so paths are `/blob/<container>/<name>`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { drain, readBody } from './http.ts';

export type BlobPermission = 'r' | 'cw';

export interface BlobWrite {
  path: string;
  /** Bytes of PUT bodies for this blob that arrived before this one. */
  receivedBefore: number;
}

/** Decides whether a PUT is refused, and with which HTTP status. */
export type WriteGate = (write: BlobWrite) => number | undefined;

interface StoredBlob {
  file: string;
  size: number;
  contentType: string;
  etag: string;
  lastModified: Date;
}

const apiVersion = '2025-11-05';

export class BlobStore {
  readonly #dir: string;
  readonly #origin: string;
  readonly #secret: Buffer;
  readonly #gate: WriteGate;
  readonly #blobs = new Map<string, StoredBlob>();
  /** Uncommitted blocks by blob path, then block id. */
  readonly #staged = new Map<string, Map<string, { file: string; size: number }>>();
  readonly #received = new Map<string, number>();
  #files = 0;
  #etags = 0;

  constructor(options: { dir: string; origin: string; secret: Buffer; gate: WriteGate }) {
    this.#dir = options.dir;
    this.#origin = options.origin;
    this.#secret = options.secret;
    this.#gate = options.gate;
  }

  signedUrl(path: string, permission: BlobPermission, options: { ttlMs?: number; contentDisposition?: string } = {}): string {
    const query = new URLSearchParams({
      sv: apiVersion,
      se: new Date(Date.now() + (options.ttlMs ?? 3_600_000)).toISOString(),
      sr: 'b',
      sp: permission,
    });
    if (options.contentDisposition !== undefined) query.set('rscd', options.contentDisposition);
    query.set('sig', this.#signature(path, query));
    return `${this.#origin}${path}?${query}`;
  }

  size(path: string): number | undefined {
    return this.#blobs.get(path)?.size;
  }

  async read(path: string): Promise<Buffer> {
    const blob = this.#blobs.get(path);
    if (blob === undefined) throw new Error(`no blob at ${path}`);
    return readFile(blob.file);
  }

  async delete(path: string): Promise<void> {
    const blob = this.#blobs.get(path);
    this.#blobs.delete(path);
    this.#received.delete(path);
    await this.#dropStaged(path);
    if (blob !== undefined) await rm(blob.file, { force: true });
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const method = req.method ?? '';
    const denied = this.#checkSignature(path, url.searchParams, method === 'PUT' ? 'w' : 'r');
    if (denied !== undefined) {
      await drain(req);
      return storageError(res, 403, 'AuthenticationFailed', denied);
    }
    if (method === 'GET' || method === 'HEAD') return this.#get(req, res, path, url.searchParams);
    if (method !== 'PUT') return storageError(res, 405, 'UnsupportedHttpVerb', `${method} is not supported`);

    const length = Number(req.headers['content-length'] ?? NaN);
    if (!Number.isSafeInteger(length)) {
      await drain(req);
      return storageError(res, 411, 'MissingContentLengthHeader', 'Content-Length is required');
    }
    const receivedBefore = this.#received.get(path) ?? 0;
    this.#received.set(path, receivedBefore + length);
    const refusal = this.#gate({ path, receivedBefore });
    if (refusal !== undefined) {
      await drain(req);
      return storageError(res, refusal, refusal === 403 ? 'AuthorizationFailure' : 'InternalError', 'upload refused by an injected fault');
    }
    const comp = url.searchParams.get('comp');
    if (comp === 'block') return this.#stageBlock(req, res, path, url.searchParams.get('blockid'), length);
    if (comp === 'blocklist') return this.#commitBlockList(req, res, path);
    if (comp !== null) {
      await drain(req);
      return storageError(res, 400, 'InvalidQueryParameterValue', `comp=${comp} is not supported`);
    }
    if (req.headers['x-ms-blob-type'] !== 'BlockBlob') {
      await drain(req);
      return storageError(res, 400, 'InvalidHeaderValue', 'x-ms-blob-type must be BlockBlob');
    }
    const file = this.#newFile();
    if (!(await receive(req, res, file, length))) return;
    await this.#store(path, file, length, req);
    res.writeHead(201, this.#writeHeaders(path)).end();
  }

  async #stageBlock(req: IncomingMessage, res: ServerResponse, path: string, blockId: string | null, length: number): Promise<void> {
    if (blockId === null || blockId === '' || Buffer.from(blockId, 'base64').toString('base64') !== blockId) {
      await drain(req);
      return storageError(res, 400, 'InvalidQueryParameterValue', `blockid ${String(blockId)} is not base64`);
    }
    const file = this.#newFile();
    if (!(await receive(req, res, file, length))) return;
    const blocks = this.#staged.get(path) ?? new Map<string, { file: string; size: number }>();
    this.#staged.set(path, blocks);
    const replaced = blocks.get(blockId);
    blocks.set(blockId, { file, size: length });
    if (replaced !== undefined) await rm(replaced.file, { force: true });
    res.writeHead(201, { 'x-ms-version': apiVersion, 'x-ms-request-server-encrypted': 'true' }).end();
  }

  async #commitBlockList(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    // 50,000 blocks (Azure's most) of 64-character ids fit.
    const xml = (await readBody(req, 8 << 20)).toString('utf8');
    if (!/<BlockList>[\s\S]*<\/BlockList>|<BlockList\s*\/>/.test(xml))
      return storageError(res, 400, 'InvalidXmlDocument', 'body is not a BlockList');
    const ids = [...xml.matchAll(/<(Latest|Uncommitted|Committed)>([^<]*)<\/\1>/g)].map((m) => m[2] ?? '');
    const blocks = this.#staged.get(path) ?? new Map<string, { file: string; size: number }>();
    const missing = ids.find((id) => !blocks.has(id));
    if (missing !== undefined) return storageError(res, 400, 'InvalidBlockList', `block ${missing} was not staged`);
    const file = this.#newFile();
    const out = createWriteStream(file);
    let size = 0;
    for (const id of ids) {
      const block = blocks.get(id)!;
      // Written chunk by chunk: a pipeline per block leaves its listeners on `out` (a warning past 10 blocks).
      for await (const chunk of createReadStream(block.file)) if (!out.write(chunk)) await once(out, 'drain');
      size += block.size;
    }
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    await this.#store(path, file, size, req);
    res.writeHead(201, this.#writeHeaders(path)).end();
  }

  async #store(path: string, file: string, size: number, req: IncomingMessage): Promise<void> {
    const target = join(this.#dir, `${createHash('sha256').update(path).digest('hex')}.blob`);
    await rename(file, target);
    this.#blobs.set(path, {
      file: target,
      size,
      contentType: header(req, 'x-ms-blob-content-type') ?? 'application/octet-stream',
      etag: `"0x${(++this.#etags).toString(16).toUpperCase().padStart(15, '0')}"`,
      lastModified: new Date(),
    });
    await this.#dropStaged(path);
  }

  async #get(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const blob = this.#blobs.get(path);
    if (blob === undefined) return storageError(res, 404, 'BlobNotFound', 'The specified blob does not exist.', req.method === 'HEAD');
    const headers: OutgoingHttpHeaders = {
      'content-type': blob.contentType,
      etag: blob.etag,
      'last-modified': blob.lastModified.toUTCString(),
      'accept-ranges': 'bytes',
      'x-ms-blob-type': 'BlockBlob',
      'x-ms-version': apiVersion,
      'x-ms-creation-time': blob.lastModified.toUTCString(),
    };
    const disposition = query.get('rscd');
    if (disposition !== null) headers['content-disposition'] = disposition;
    const range = header(req, 'x-ms-range') ?? header(req, 'range');
    let start = 0;
    let end = blob.size - 1;
    let status = 200;
    if (range !== undefined) {
      const match = /^bytes=(\d+)-(\d*)$/.exec(range);
      const from = Number(match?.[1]);
      const to = match?.[2] ? Math.min(Number(match[2]), blob.size - 1) : blob.size - 1;
      if (match === null || from >= blob.size || to < from) {
        return storageError(res, 416, 'InvalidRange', `range ${range} is not satisfiable for ${blob.size} bytes`, req.method === 'HEAD', {
          'content-range': `bytes */${blob.size}`,
        });
      }
      [start, end, status] = [from, to, 206];
      headers['content-range'] = `bytes ${start}-${end}/${blob.size}`;
    }
    headers['content-length'] = end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || blob.size === 0) return void res.end();
    await pipeline(createReadStream(blob.file, { start, end }), res);
  }

  #writeHeaders(path: string): OutgoingHttpHeaders {
    const blob = this.#blobs.get(path)!;
    return {
      etag: blob.etag,
      'last-modified': blob.lastModified.toUTCString(),
      'x-ms-version': apiVersion,
      'x-ms-request-server-encrypted': 'true',
    };
  }

  async #dropStaged(path: string): Promise<void> {
    const blocks = this.#staged.get(path);
    this.#staged.delete(path);
    await Promise.all([...(blocks?.values() ?? [])].map((b) => rm(b.file, { force: true })));
  }

  #newFile(): string {
    return join(this.#dir, `${++this.#files}.part`);
  }

  #signature(path: string, query: URLSearchParams): string {
    const signed = [query.get('sp') ?? '', query.get('se') ?? '', query.get('rscd') ?? '', path].join('\n');
    return createHmac('sha256', this.#secret).update(signed).digest('base64');
  }

  /** Why the request may not do this, or undefined when its signature allows it. */
  #checkSignature(path: string, query: URLSearchParams, needs: 'r' | 'w'): string | undefined {
    const given = Buffer.from(query.get('sig') ?? '');
    const expected = Buffer.from(this.#signature(path, query));
    if (given.byteLength !== expected.byteLength || !timingSafeEqual(given, expected)) return 'Signature did not match';
    if (!(Date.parse(query.get('se') ?? '') > Date.now())) return 'Signed expiry time has passed';
    if (!(query.get('sp') ?? '').includes(needs))
      return `This request is not authorized to perform this operation using this permission (needs ${needs})`;
    return undefined;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Writes the body to `file`; false (the answer sent, the file gone) when it is not `length` bytes. */
async function receive(req: IncomingMessage, res: ServerResponse, file: string, length: number): Promise<boolean> {
  try {
    await pipeline(req, createWriteStream(file));
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
  const received = (await stat(file)).size;
  if (received === length) return true;
  await rm(file, { force: true });
  storageError(res, 400, 'InvalidInput', `Content-Length ${length} but ${received} bytes arrived`);
  return false;
}

function storageError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headOnly = false,
  extra: OutgoingHttpHeaders = {},
): void {
  const body = Buffer.from(
    `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`,
  );
  res.writeHead(status, {
    'content-type': 'application/xml',
    'x-ms-error-code': code,
    'x-ms-version': apiVersion,
    ...(headOnly ? {} : { 'content-length': body.byteLength }),
    ...extra,
  });
  res.end(headOnly ? undefined : body);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
