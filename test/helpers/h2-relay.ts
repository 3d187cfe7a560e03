/**
 * A TCP relay in front of an HTTP/2 server that can hold back the frames that open and feed
 * streams (HEADERS, DATA, CONTINUATION) a client sends, while everything else (PING, SETTINGS,
 * WINDOW_UPDATE) and the server's frames pass. A call can then be on its way, sent by the client,
 * yet reach the server only after something else happened there: the moment a proxy's call
 * crosses the server's shutdown.
 */
import { createServer, connect, type Socket } from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const STREAM_FRAMES = new Set([0x0 /* DATA */, 0x1 /* HEADERS */, 0x9 /* CONTINUATION */]);

export interface H2Relay {
  /** host:port to connect to instead of the server. */
  url: string;
  /** From now on, stream frames wait in the relay. */
  holdStreams(): void;
  /** Bytes waiting. */
  held(): number;
  /** Sends what waits, and passes everything again. */
  release(): void;
  close(): void;
}

/** One client connection at a time, relayed to `target` (host:port). */
export async function h2Relay(target: string): Promise<H2Relay> {
  const at = target.lastIndexOf(':');
  const [host, port] = [target.slice(0, at), Number(target.slice(at + 1))];
  let holding = false;
  let waiting: Buffer[] = [];
  let upstream: Socket | null = null;
  const relay = createServer((downstream) => {
    const up = connect(port, host);
    upstream = up;
    let pending = Buffer.alloc(0);
    let prefaceSeen = false;
    up.on('error', () => downstream.destroy());
    downstream.on('error', () => up.destroy());
    up.on('data', (chunk: Buffer) => downstream.write(chunk));
    up.on('close', () => downstream.destroy());
    downstream.on('close', () => up.destroy());
    // Split what the client sends into frames (after the connection preface), to hold some.
    downstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!prefaceSeen) {
        if (pending.length < PREFACE.length) return;
        up.write(pending.subarray(0, PREFACE.length));
        pending = pending.subarray(PREFACE.length);
        prefaceSeen = true;
      }
      while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
        const frame = pending.subarray(0, 9 + pending.readUIntBE(0, 3));
        pending = pending.subarray(frame.length);
        if (holding && STREAM_FRAMES.has(frame[3])) waiting.push(frame);
        else up.write(frame);
      }
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `127.0.0.1:${(relay.address() as { port: number }).port}`,
    holdStreams: () => {
      holding = true;
    },
    held: () => waiting.reduce((n, frame) => n + frame.length, 0),
    release: () => {
      holding = false;
      for (const frame of waiting) upstream?.write(frame);
      waiting = [];
    },
    close: () => {
      upstream?.destroy();
      relay.close();
    },
  };
}
