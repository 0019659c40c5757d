/**
 * A long-distance link on loopback: a TCP proxy in front of a server that gives every connection what one TCP
 * stream over the internet gets. Each direction delays its bytes by half the round trip, carries at most
 * `bytesPerSecond` (a CDN's cap on one stream), and starts slowly: the sender may have a congestion window of bytes
 * unacknowledged, 10 segments at first, grown by what each acknowledgment (a round trip after the send) covers, and
 * back to 10 segments after an idle spell (Linux's slow start after idle). A new connection pays the handshakes
 * (TCP, then TLS 1.3) before its first byte moves. Nothing leaves 127.0.0.1; `stop()` ends every connection.
 */
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface LinkProfile {
  /** Round-trip time in milliseconds. */
  rttMs: number;
  /** Per connection and direction. */
  bytesPerSecond: number;
}

export interface DelayLine {
  /** `127.0.0.1:PORT`: what clients connect to instead of the target. */
  host: string;
  profile: LinkProfile;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

/** TCP's handshake, then TLS 1.3's: registries on the internet speak https. */
const HANDSHAKE_RTTS = 2;
const SEGMENT = 1448;
const INITIAL_WINDOW = 10 * SEGMENT;
/** Linux's minimum retransmission timeout: a sender idle this long starts slowly again. */
const IDLE_RESTART_MS = 200;

/** `target` is `HOST:PORT` on loopback. */
export async function startDelayLine(target: string, profile: LinkProfile): Promise<DelayLine> {
  const [targetHost, targetPort] = splitHost(target);
  const sockets = new Set<Socket>();
  let accepted = 0;
  // Half-open: a client's end of sending travels the link like its bytes, and the answer still comes back.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    const upstream = connect({ port: targetPort, host: targetHost, allowHalfOpen: true });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => [client, upstream].forEach((s) => s.destroy()));
      socket.on('close', () => sockets.delete(socket));
    }
    const usableAt = performance.now() + HANDSHAKE_RTTS * profile.rttMs;
    new Direction(client, upstream, profile, usableAt);
    new Direction(upstream, client, profile, usableAt);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    profile,
    connections: () => accepted,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** One direction of one connection: bytes read from `source` reach `destination` when the link would deliver them. */
class Direction {
  private readonly source: Socket;
  private readonly destination: Socket;
  private readonly msPerByte: number;
  private readonly oneWayMs: number;
  /** Bytes read and not yet handed to the destination's socket: past the link's capacity the source is paused. */
  private readonly limit: number;
  private pending = 0;
  private readonly queue: Array<{ chunk: Buffer; at: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the link has sent everything given to it so far. */
  private sentUntil: number;
  private window = INITIAL_WINDOW;
  /** Sent and not yet acknowledged: each acknowledgment comes back a round trip after its bytes left. */
  private readonly unacknowledged: Array<{ bytes: number; at: number }> = [];
  private inFlight = 0;
  private readonly rttMs: number;

  constructor(source: Socket, destination: Socket, profile: LinkProfile, usableAt: number) {
    this.source = source;
    this.destination = destination;
    this.rttMs = profile.rttMs;
    this.msPerByte = 1000 / profile.bytesPerSecond;
    this.oneWayMs = profile.rttMs / 2;
    this.limit = Math.max(1024 * 1024, (2 * profile.bytesPerSecond * profile.rttMs) / 1000);
    this.sentUntil = usableAt;
    source.on('data', (chunk: Buffer) => this.take(chunk));
    source.on('end', () => this.enqueue(Buffer.alloc(0)));
  }

  private take(chunk: Buffer): void {
    this.pending += chunk.byteLength;
    if (this.pending > this.limit) this.source.pause();
    this.enqueue(chunk);
  }

  /**
   * Works out when the chunk arrives: its bytes leave as the window has room (acknowledgments free it), each at
   * the link's rate after what went before; the last one arrives half a round trip after it left.
   */
  private enqueue(chunk: Buffer): void {
    let time = Math.max(performance.now(), this.sentUntil);
    this.acknowledge(time);
    if (this.inFlight === 0 && time - this.sentUntil > IDLE_RESTART_MS) this.window = INITIAL_WINDOW;
    for (let left = chunk.byteLength; left > 0;) {
      if (this.inFlight >= this.window) {
        time = Math.max(time, this.unacknowledged[0]!.at);
        this.acknowledge(time);
        continue;
      }
      const bytes = Math.min(left, this.window - this.inFlight);
      time += bytes * this.msPerByte;
      this.unacknowledged.push({ bytes, at: time + this.rttMs });
      this.inFlight += bytes;
      left -= bytes;
    }
    this.sentUntil = time;
    this.queue.push({ chunk, at: time + this.oneWayMs });
    this.schedule();
  }

  /** Acknowledgments back by `time` free the window and grow it by what they cover (slow start). */
  private acknowledge(time: number): void {
    while (this.unacknowledged.length > 0 && this.unacknowledged[0]!.at <= time) {
      const { bytes } = this.unacknowledged.shift()!;
      this.inFlight -= bytes;
      this.window += bytes;
    }
  }

  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    this.timer = setTimeout(() => this.deliver(), Math.max(0, this.queue[0]!.at - performance.now()));
  }

  private deliver(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const { chunk } = this.queue.shift()!;
      if (chunk.byteLength === 0) {
        this.destination.end();
        continue;
      }
      this.destination.write(chunk, () => {
        this.pending -= chunk.byteLength;
        if (this.pending <= this.limit && this.source.isPaused()) this.source.resume();
      });
    }
    this.schedule();
  }
}

function splitHost(host: string): [string, number] {
  const at = host.lastIndexOf(':');
  return [host.slice(0, at), Number(host.slice(at + 1))];
}
