/**
 * Loopback HTTP servers of our own, put in front of or beside the test registry: they record what
 * clients send and misbehave on demand (redirects to another origin, 503s, dropped connections, wrong bytes).
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Once the exchange is over: the status sent, and whether the whole answer went out (not cut by a closed connection). */
  answered?: { status: number; complete: boolean };
}

export interface LoopbackServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** `127.0.0.1:PORT`: the registry part of a reference. */
  host: string;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export async function startLoopbackServer(handler: Handler): Promise<LoopbackServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const recorded: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    requests.push(recorded);
    res.on('close', () => (recorded.answered = { status: res.statusCode, complete: res.writableFinished }));
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface ProxyOptions {
  /** Send the target's own Host (default: the client's, so upload locations point back at us). */
  targetHost?: boolean;
  /** A redirect to `target` is rewritten to this origin instead: another host of the test's own. */
  redirectTo?: string;
  /**
   * A request whose Content-Length is over this is answered 413 and not forwarded, as nginx's client_max_body_size
   * does: at once, the body read and dropped so that the client sees the answer.
   */
  maxBodyBytes?: number;
  /** Forwarded without its Range header: a server that ignores Range (it answers 200 with the whole blob). */
  ignoreRange?: boolean;
  /** A 206 passed on without its Content-Range: a server whose partial answers do not say which bytes they hold. */
  dropContentRange?: boolean;
  /** The answer's body stops after this many bytes and the connection closes (a FIN before Content-Length bytes). */
  cutAfter?: number;
  /** Request bodies cut short instead of refused with a 413, as a load balancer over its body limit does. */
  cutBodies?: BodyCut;
}

/**
 * Which request bodies a proxy cuts short, and how: it forwards `afterBytes` of the body (the registry's upload session
 * keeps them, as behind a proxy that streams), then breaks the upstream connection and ends the client's by a reset
 * (RST) or a close (FIN, the rest of the body read and dropped).
 */
export interface BodyCut {
  /** Bodies over this many bytes are cut. */
  overBytes: number;
  afterBytes: number;
  how: 'reset' | 'close';
  /** PATCH bodies cut whatever their size: the first so many (counted down; default none). */
  patches?: number;
}

/** Forwards a request to `target` (an origin) as is, Host header included unless told otherwise. */
export function proxyTo(target: string, req: IncomingMessage, res: ServerResponse, options: ProxyOptions = {}): Promise<void> {
  if (options.maxBodyBytes !== undefined && Number(req.headers['content-length'] ?? 0) > options.maxBodyBytes) {
    req.resume();
    res.writeHead(413, { 'content-type': 'text/html' });
    res.end('<html><body>413 Request Entity Too Large</body></html>');
    return Promise.resolve();
  }
  if (options.cutBodies !== undefined && cuts(req, options.cutBodies)) return cutBody(target, req, options.cutBodies);
  return new Promise((resolve, reject) => {
    const headers = options.targetHost ? { ...req.headers, host: new URL(target).host } : { ...req.headers };
    if (options.ignoreRange) delete headers.range;
    const upstream = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers }, (answer) => {
      const location = answer.headers.location;
      if (options.redirectTo !== undefined && typeof location === 'string' && location.startsWith(target)) {
        answer.headers.location = options.redirectTo + location.slice(target.length);
      }
      if (options.dropContentRange) delete answer.headers['content-range'];
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.on('end', resolve);
      answer.on('error', reject);
      if (options.cutAfter === undefined) return void answer.pipe(res);
      let left = options.cutAfter;
      answer.on('data', (chunk: Buffer) => {
        if (left <= 0) return;
        res.write(chunk.subarray(0, left));
        left -= chunk.byteLength;
        if (left > 0) return;
        answer.destroy();
        res.socket?.end();
        resolve();
      });
    });
    upstream.on('error', reject);
    req.pipe(upstream);
  });
}

function cuts(req: IncomingMessage, cut: BodyCut): boolean {
  const length = Number(req.headers['content-length'] ?? 0);
  if (length > cut.overBytes) return true;
  if (req.method !== 'PATCH' || length === 0 || (cut.patches ?? 0) <= 0) return false;
  cut.patches = (cut.patches ?? 0) - 1;
  return true;
}

/** Forwards `afterBytes` of the body to `target`, then breaks both connections (BodyCut). */
async function cutBody(target: string, req: IncomingMessage, { afterBytes, how }: BodyCut): Promise<void> {
  const upstream = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers });
  upstream.on('error', () => undefined);
  const end = () => {
    upstream.destroy();
    if (how === 'reset') return void req.socket.resetAndDestroy();
    req.socket.end();
    req.resume();
  };
  if (afterBytes === 0) return end();
  let forwarded = 0;
  req.on('data', (chunk: Buffer) => {
    if (forwarded >= afterBytes) return;
    upstream.write(chunk.subarray(0, afterBytes - forwarded));
    forwarded += chunk.byteLength;
    if (forwarded >= afterBytes) end();
  });
}
