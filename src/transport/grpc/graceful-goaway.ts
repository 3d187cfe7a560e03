/**
 * Closing gRPC connections without refusing a call a client has already sent.
 *
 * grpc-js's tryShutdown() (like http2.Server.close()) sends each connection one GOAWAY naming the
 * last stream it has processed. A call the client sent a moment before, on a reused connection or
 * on one accepted just before the listener closed, is then refused; a proxy such as nginx's
 * grpc_pass answers it 502 (UNAVAILABLE) and does not resend it. So, before that GOAWAY:
 *
 * - a connection with a call under way gets a GOAWAY naming the highest stream id (RFC 9113
 *   section 6.8): it refuses nothing, and a client that honours it (grpc-js, nginx) opens no new
 *   stream on it;
 * - an idle connection gets a PING instead, again every NUDGE_MS while it stays idle: nginx closes
 *   an idle pooled connection on which anything arrives. Not a GOAWAY: once a connection has sent
 *   one and has no stream open, nghttp2 no longer wants to read (nghttp2_session_want_read) and
 *   Node stops reading it, so a call that a proxy had just sent on it, crossing the GOAWAY, was
 *   never read, then refused by the final GOAWAY (nginx: "upstream sent goaway with error 0",
 *   the client's call failed). A call that arrives on an idle connection is read and served, and
 *   the connection then gets its GOAWAY (it has a call under way);
 * - the final GOAWAY goes out once every connection has been idle for QUIET_MS, or when the
 *   caller's time is up;
 * - a stream whose answer is complete (its status sent) while its client is still sending (a
 *   bidirectional stream the server wound down) gets RST_STREAM NO_ERROR, which tells the client
 *   to stop sending without an error (RFC 9113 section 8.1); otherwise a client that went on
 *   sending would hold its connection open until the caller's time is up.
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
 * the GOAWAY or the PING has arrived.
 */
export const QUIET_MS = 500;
const NUDGE_MS = 100;
const SWEEP_MS = 20;

interface Session {
  active: number;
  /** Sent the GOAWAY that refuses nothing. */
  told: boolean;
  /** performance.now() of the last stream's start or end, or of the start of quiesce(). */
  lastActivity: number;
}

export class GracefulGoaway {
  private readonly servers: Http2Server[];
  private readonly sessions = new Map<Http2Session, Session>();
  private readonly sockets = new Set<Socket>();
  private readonly streams = new Set<ServerHttp2Stream>();
  private quiescing = false;

  /** Call right after the server is bound, before it accepts connections. */
  constructor(server: Server) {
    const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
    this.servers = servers instanceof Map ? [...servers.keys()].filter((s): s is Http2Server => typeof s?.on === 'function') : [];
    for (const h2 of this.servers) {
      h2.on('session', (session: ServerHttp2Session) => {
        this.sessions.set(session, { active: 0, told: false, lastActivity: performance.now() });
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
   * Tells every connection with a call under way to go (a GOAWAY that refuses nothing), and does
   * so for the others as soon as a call arrives on them; PINGs the idle ones every NUDGE_MS.
   * Resolves once each connection has closed or stayed idle for QUIET_MS, or after `timeoutMs`.
   * The GOAWAYs go out before the first await.
   */
  async quiesce(timeoutMs: number): Promise<void> {
    this.quiescing = true;
    const start = performance.now();
    for (const [session, s] of this.sessions) {
      s.lastActivity = start;
      if (s.active > 0) tellToGo(session, s);
      else ping(session);
    }
    let nudged = start;
    while (performance.now() - start < timeoutMs) {
      const t = performance.now();
      const nudge = t - nudged >= NUDGE_MS;
      if (nudge) nudged = t;
      for (const stream of this.streams) if (answered(stream)) endRequest(stream);
      let busy = false;
      for (const [session, s] of this.sessions) {
        if (s.active > 0 || t - s.lastActivity < QUIET_MS) busy = true;
        if (nudge && s.active === 0) ping(session);
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
    if (this.quiescing && !s.told) tellToGo(session, s);
    this.streams.add(stream);
    stream.once('close', () => {
      this.streams.delete(stream);
      s.active--;
      s.lastActivity = performance.now();
    });
  }
}

/** Whether the server has sent the stream's status: as trailers, or in a trailers-only answer's headers. */
function answered(stream: ServerHttp2Stream): boolean {
  return !stream.closed && (stream.sentTrailers !== undefined || stream.sentHeaders?.['grpc-status'] !== undefined);
}

/** RST_STREAM NO_ERROR after a complete answer: Node sends what is still queued (the status) first. */
function endRequest(stream: ServerHttp2Stream): void {
  try {
    stream.close(constants.NGHTTP2_NO_ERROR);
  } catch {
    /* closed meanwhile */
  }
}

/** A GOAWAY that refuses no stream: the client opens no new one on this connection. */
function tellToGo(session: Http2Session, s: Session): void {
  s.told = true;
  if (session.closed || session.destroyed) return;
  try {
    session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
  } catch {
    /* closed meanwhile: nothing left to tell */
  }
}

/** Something to read for the client, which keeps the connection readable here (see the file comment). */
function ping(session: Http2Session): void {
  if (session.closed || session.destroyed) return;
  try {
    session.ping(() => {});
  } catch {
    /* closed meanwhile */
  }
}
