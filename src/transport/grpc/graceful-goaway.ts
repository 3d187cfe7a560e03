/**
 * Closing gRPC connections without refusing a call a client has already sent.
 *
 * grpc-js's tryShutdown() (like http2.Server.close()) sends each connection one GOAWAY naming the
 * last stream it has processed. A call the client sent a moment before, on a reused connection or
 * on one accepted just before the listener closed, is then refused; a proxy such as nginx's
 * grpc_pass answers it 502 (UNAVAILABLE) and does not resend it. So, before that GOAWAY:
 *
 * - every connection first gets a GOAWAY naming the highest stream id (RFC 9113 section 6.8): it
 *   refuses nothing, and a client that honours it (grpc-js) opens no new stream on it;
 * - nginx 1.22 ignores a GOAWAY that arrives while a call is under way (or together with its
 *   answer) and reuses the connection, but closes an idle pooled connection on which anything
 *   arrives: so an idle connection gets that GOAWAY again every NUDGE_MS;
 * - the final GOAWAY goes out once a connection has been idle for QUIET_MS (nothing new arrived
 *   after the client was told), or when the caller's time is up.
 *
 * grpc-js keeps its HTTP/2 servers private (`http2Servers`, grpc-js 1.14): without them (another
 * grpc-js version), close falls back to tryShutdown() alone.
 */
import type { Server } from '@grpc/grpc-js';
import { constants, type Http2Server, type Http2Session, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { Server as NetServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const MAX_STREAM_ID = 2 ** 31 - 1;
/**
 * How long a connection must stay idle, after it was told to go, before the final GOAWAY: longer
 * than a round trip between a proxy and its replicas, so that a call sent before the client read
 * the first GOAWAY or the PING has arrived.
 */
export const QUIET_MS = 500;
const NUDGE_MS = 100;
const SWEEP_MS = 20;

interface Session {
  active: number;
  /** performance.now() of the last stream's start or end, or of the first GOAWAY. */
  lastActivity: number;
}

export class GracefulGoaway {
  private readonly servers: Http2Server[];
  private readonly sessions = new Map<Http2Session, Session>();
  private readonly sockets = new Set<Socket>();

  /** Call right after the server is bound, before it accepts connections. */
  constructor(server: Server) {
    const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
    this.servers = servers instanceof Map ? [...servers.keys()].filter((s): s is Http2Server => typeof s?.on === 'function') : [];
    for (const h2 of this.servers) {
      h2.on('session', (session: ServerHttp2Session) => {
        this.sessions.set(session, { active: 0, lastActivity: performance.now() });
        session.once('close', () => this.sessions.delete(session));
      });
      h2.on('stream', (stream: ServerHttp2Stream) => this.track(stream));
      h2.on('connection', (socket: Socket) => {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
      });
    }
  }

  /** Whether this grpc-js exposes its HTTP/2 servers (see the file comment). */
  get available(): boolean {
    return this.servers.length > 0;
  }

  /** Connections open now. */
  get open(): number {
    return this.sessions.size;
  }

  /**
   * Stops accepting connections, without http2.Server.close()'s GOAWAY to every session (the
   * first GOAWAY must come before it).
   */
  stopListening(): void {
    for (const h2 of this.servers) if (h2.listening) NetServer.prototype.close.call(h2);
  }

  /**
   * Tells every connection to go (the first GOAWAY, again every NUDGE_MS while it is idle) and
   * resolves once each has closed or stayed idle for QUIET_MS, or after `timeoutMs`.
   */
  async quiesce(timeoutMs: number): Promise<void> {
    const start = performance.now();
    for (const [session, s] of this.sessions) {
      s.lastActivity = start;
      tellToGo(session);
    }
    let nudged = start;
    while (performance.now() - start < timeoutMs) {
      const t = performance.now();
      const nudge = t - nudged >= NUDGE_MS;
      if (nudge) nudged = t;
      let busy = false;
      for (const [session, s] of this.sessions) {
        if (s.active > 0 || t - s.lastActivity < QUIET_MS) busy = true;
        if (nudge && s.active === 0) tellToGo(session);
      }
      if (!busy) return;
      await sleep(SWEEP_MS);
    }
  }

  /**
   * Destroys the connections still open once the server has shut down. A closed HTTP/2 session
   * only half-closes its socket (it ends its side and waits for the client's); a client that never
   * ends its side (seen after fuzzed calls with 1 ms deadlines and cancelled streams, on a channel
   * already closed) then held the socket open on both ends, keeping the process alive.
   */
  destroyRemaining(): void {
    for (const session of this.sessions.keys()) if (!session.destroyed) session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }

  private track(stream: ServerHttp2Stream): void {
    const session = stream.session;
    const s = session && this.sessions.get(session);
    if (!s) return;
    s.active++;
    s.lastActivity = performance.now();
    stream.once('close', () => {
      s.active--;
      s.lastActivity = performance.now();
    });
  }
}

/** A GOAWAY that refuses no stream: the client opens no new one on this connection. */
function tellToGo(session: Http2Session): void {
  if (session.closed || session.destroyed) return;
  try {
    session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
  } catch {
    /* closed meanwhile: nothing left to tell */
  }
}
