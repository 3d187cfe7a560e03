/**
 * A lean HTTP/1.1 client for the load generator, in the spirit of wrk: one keep-alive socket per
 * client, one request at a time, the request bytes built once per body. node:http's client costs
 * tens of microseconds of the load generator's CPU per request, and in a closed loop that time
 * counts against the server: each client waits for its loader process before it sends again.
 * It reads what the server sends: Content-Length or chunked bodies, and `Connection: close`, after
 * which the next request opens a new socket.
 */
import { connect, type Socket } from 'node:net';

export interface LeanResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** The parsed head and where the body starts, or null while the head is incomplete. */
function parseHead(buf: Buffer): { status: number; headers: Record<string, string>; bodyAt: number } | null {
  const end = buf.indexOf(HEADER_END);
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon > 0) headers[lines[i].slice(0, colon).trim().toLowerCase()] = lines[i].slice(colon + 1).trim();
  }
  return { status, headers, bodyAt: end + 4 };
}

/** A chunked body decoded, or null while its last chunk has not arrived. */
function dechunk(buf: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
    const dataAt = lineEnd + 2;
    if (size === 0) return buf.length >= dataAt + 2 ? Buffer.concat(parts) : null;
    if (buf.length < dataAt + size + 2) return null;
    parts.push(buf.subarray(dataAt, dataAt + size));
    at = dataAt + size + 2;
  }
}

/** One client's connection: `send` posts one request and resolves with the whole response. */
export class LeanConnection {
  private socket: Socket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve(r: LeanResponse): void; reject(e: Error): void } | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /** `request` is the whole request: head and body (see requestBytes). */
  send(request: Buffer): Promise<LeanResponse> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.buf = Buffer.alloc(0);
      (this.socket ?? this.open()).write(request);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) this.onData(chunk);
    });
    // Only the current socket fails a request: a socket left after `Connection: close` closes later.
    const fail = (e: Error) => {
      if (this.socket !== socket) return;
      this.socket = null;
      const w = this.waiting;
      this.waiting = null;
      w?.reject(e);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the server closed the connection before answering')));
    this.socket = socket;
    return socket;
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const head = parseHead(this.buf);
    if (!head) return;
    const rest = this.buf.subarray(head.bodyAt);
    let body: Buffer | null;
    if (head.headers['transfer-encoding']?.includes('chunked')) body = dechunk(rest);
    else {
      const length = Number(head.headers['content-length'] ?? 0);
      body = rest.length >= length ? rest.subarray(0, length) : null;
    }
    if (!body) return;
    // Answered: a `Connection: close` answer ends this socket; the next request opens another.
    if (head.headers.connection?.toLowerCase() === 'close') {
      const socket = this.socket;
      this.socket = null;
      socket?.destroy();
    }
    const w = this.waiting;
    this.waiting = null;
    w?.resolve({ status: head.status, headers: head.headers, body });
  }
}

/** A POST's bytes, built once and written as they are for every request with this body. */
export function requestBytes(host: string, path: string, headers: Record<string, string>, body: Buffer): Buffer {
  const head = [
    `POST ${path} HTTP/1.1`,
    `host: ${host}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    `content-length: ${body.length}`,
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
