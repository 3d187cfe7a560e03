/**
 * Stopping an HTTP server without failing a request a client has already sent.
 *
 * Node's http.Server.close() also destroys every connection that is not mid-request, and that
 * includes one accepted a moment ago whose request is still in the kernel's buffer: the proxy that
 * opened it has sent its POST, sees the connection reset, and (nginx by default) answers 502
 * instead of trying another replica, since a sent POST is not resent. So the listener is closed
 * on its own; from then on every answer carries `Connection: close`, and a connection is closed
 * only once it has been idle (no request arriving, none being answered) for IDLE_CLOSE_MS.
 *
 * Connections stay keep-alive while the server drains before that: a proxy that reuses its
 * upstream connections (nginx `keepalive`, HAProxy) then opens almost none during the last
 * moments of the listener, and a connection still in the kernel's accept queue when the listener
 * closes is reset by the kernel, whatever the server does. Once the listener is closed, a new
 * connection is refused, which every proxy retries on another replica, POST included.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How long a connection must have been idle before it is closed at stop. A client writing its
 * next request on a keep-alive connection at the moment it is closed loses that request; one that
 * has just been answered is the likeliest to be reused next (nginx takes its most recently used
 * upstream connection), so it gets this long to bring its request, which is answered and then
 * closes the connection. Node closes idle keep-alive connections after 5 s (keepAliveTimeout) anyway.
 */
export const IDLE_CLOSE_MS = 1000;
const SWEEP_MS = 10;

interface Connection {
  /** Answers being written. */
  answering: number;
  /** performance.now() when it was accepted or its last answer was written. */
  idleSince: number;
  /** socket.bytesRead then: more read since means a request is arriving. */
  readWhenIdle: number;
}

export class ConnectionDrain {
  private readonly connections = new Map<Socket, Connection>();
  private readonly answering = new Set<ServerResponse>();
  private closing = false;

  constructor(private readonly server: Server) {
    server.on('connection', (socket: Socket) => {
      this.connections.set(socket, { answering: 0, idleSince: performance.now(), readWhenIdle: 0 });
      socket.once('close', () => this.connections.delete(socket));
    });
    // First, so that at stop the header is set before a route can start its answer.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.closing) res.setHeader('connection', 'close');
      const c = this.connections.get(req.socket as Socket);
      if (c) c.answering++;
      this.answering.add(res);
      res.once('close', () => {
        this.answering.delete(res);
        if (!c) return;
        c.answering--;
        c.idleSince = performance.now();
        c.readWhenIdle = req.socket.bytesRead;
      });
    });
  }

  /** Connections open now. */
  get open(): number {
    return this.connections.size;
  }

  /**
   * Stops accepting connections, without http.Server.close()'s sweep of idle ones (and without
   * stopping Node's header and request timeouts, which bound a client that never finishes).
   */
  stopListening(): void {
    if (this.server.listening) NetServer.prototype.close.call(this.server);
  }

  /**
   * From now on every answer carries `Connection: close` (answers whose headers are not written
   * yet included); resolves once every connection has closed: each after its answers, an idle
   * one after IDLE_CLOSE_MS. One whose request never completes is left to the caller's timeout.
   */
  async closeConnections(): Promise<void> {
    this.closing = true;
    for (const res of this.answering) if (!res.headersSent) res.setHeader('connection', 'close');
    while (this.connections.size > 0) {
      const now = performance.now();
      for (const [socket, c] of this.connections) {
        if (c.answering > 0 || socket.bytesRead > c.readWhenIdle || now - c.idleSince < IDLE_CLOSE_MS) continue;
        socket.destroy();
      }
      await sleep(SWEEP_MS);
    }
    // Stops Node's timeout checks, now that no connection is left, where the listener is closed
    // (an HTTP thread that shares another's socket leaves it: http-thread.ts).
    if (!this.server.listening) this.server.close(() => {});
  }
}
