/**
 * Closing gRPC connections without refusing a call a client has already sent.
 *
 * grpc-js's tryShutdown() (like http2.Server.close()) sends each connection one GOAWAY naming the
 * last stream it has processed. A call the client sent a moment before, on a reused connection or
 * on one accepted just before the listener closed, is then refused; a proxy such as nginx's
 * grpc_pass answers it 502 (UNAVAILABLE) and does not resend it. RFC 9113 section 6.8's two steps
 * instead: first a GOAWAY naming the highest stream id (nothing is refused; the client opens no new
 * stream on that connection), then a PING; once its answer is back, everything the client sent
 * before it saw the GOAWAY has arrived and the usual close refuses nothing.
 *
 * grpc-js keeps its HTTP/2 servers private (`http2Servers`, grpc-js 1.14): without them (another
 * grpc-js version), close falls back to tryShutdown() alone.
 */
import type { Server } from '@grpc/grpc-js';
import { constants, type Http2Server, type ServerHttp2Session } from 'node:http2';
import { Server as NetServer } from 'node:net';

const MAX_STREAM_ID = 2 ** 31 - 1;
/**
 * The longest wait for the PING's answer. A client that closes an idle connection on the first
 * GOAWAY (grpc-js does) drops the PING unanswered, and Node keeps the server's side of it open:
 * after this long anything sent before the GOAWAY arrived has arrived, on any network a proxy
 * shares with its replicas.
 */
const PING_WAIT_MS = 1000;

export class GracefulGoaway {
  private readonly servers: Http2Server[];
  private readonly sessions = new Set<ServerHttp2Session>();

  /** Call right after the server is bound, before it accepts connections. */
  constructor(server: Server) {
    const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
    this.servers = servers instanceof Map ? [...servers.keys()].filter((s): s is Http2Server => typeof s?.on === 'function') : [];
    for (const h2 of this.servers) {
      h2.on('session', (session: ServerHttp2Session) => {
        this.sessions.add(session);
        session.once('close', () => this.sessions.delete(session));
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
   * next step's first GOAWAY must come first).
   */
  stopListening(): void {
    for (const h2 of this.servers) if (h2.listening) NetServer.prototype.close.call(h2);
  }

  /**
   * Sends every connection a GOAWAY that refuses nothing, then a PING; resolves once each PING is
   * answered or its connection closed, or after PING_WAIT_MS (at most `timeoutMs`).
   */
  async announce(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(timeoutMs, PING_WAIT_MS))));
    await Promise.race([timeout, Promise.all([...this.sessions].map(announceOne))]);
    clearTimeout(timer);
  }
}

function announceOne(session: ServerHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) return resolve();
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      session.off('close', done);
      resolve();
    };
    session.once('close', done);
    try {
      session.goaway(constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
      if (!session.ping(done)) done();
    } catch {
      done();
    }
  });
}
