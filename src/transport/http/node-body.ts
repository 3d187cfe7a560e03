/**
 * Request bodies, body limits and "the client went away" signals taken straight from Node's
 * request and response, which @hono/node-server hands over as c.env.incoming / c.env.outgoing.
 * Touching c.req.text(), c.req.raw.body or c.req.raw.signal makes the adapter wrap the Node
 * stream in a WHATWG Request (undici Request, web ReadableStream, AbortController): about 0.25 ms
 * of main-thread CPU per request, measured, which is more than a small model's inference per
 * text (bench/cpu-bench.ts, the "web Request + streams" profile category). Without Node
 * bindings (app.request() in tests, other runtimes) these fall back to the fetch API.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { CoalesceError } from '../../errors.js';
import { CallCancellation, type CancelSignal } from '../../core/cancellation.js';

interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

function bindings(c: Context): NodeBindings {
  const env = c.env as NodeBindings | undefined;
  return env !== null && typeof env === 'object' ? env : {};
}

export const tooLarge = (limit: number) =>
  new CoalesceError('payload_too_large', `the request body is over the payload limit of ${limit} bytes (--payload-limit)`);

/**
 * 413 before anything is read when Content-Length is over the limit, checked on the header alone
 * so the body stays an untouched Node stream. Chunked bodies (no Content-Length) go through
 * hono's own bodyLimit, which reads them through the fetch API.
 */
export function payloadLimit(limit: number): MiddlewareHandler {
  const streamed = bodyLimit({ maxSize: limit, onError: () => { throw tooLarge(limit); } });
  return async (c, next) => {
    const { incoming } = bindings(c);
    if (!incoming) return streamed(c, next);
    if (incoming.method === 'GET' || incoming.method === 'HEAD') return next();
    const length = declaredLength(incoming);
    if (length === null) return streamed(c, next);
    if (length > limit) throw tooLarge(limit);
    return next();
  };
}

/** The body's size by its Content-Length; null when it has none or is chunked, so only reading it tells. */
export function declaredLength(incoming: IncomingMessage): number | null {
  const length = incoming.headers['content-length'];
  return length === undefined || incoming.headers['transfer-encoding'] !== undefined ? null : Number(length);
}

/** A request header by its lower-case name, read from Node's parsed headers: c.req.header() would build a WHATWG Headers from them. */
export function requestHeader(c: Context, name: string): string | undefined {
  const { incoming } = bindings(c);
  return incoming ? nodeHeader(incoming, name) : c.req.header(name);
}

export function nodeHeader(incoming: IncomingMessage, name: string): string | undefined {
  const value = incoming.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The body as UTF-8 text (a leading BOM dropped, as Request.text() does); payloadLimit() bounds its size. */
export function bodyText(c: Context): Promise<string> {
  const { incoming } = bindings(c);
  // Once the fetch API has read the stream (a chunked body under bodyLimit), its copy is the body.
  if (!incoming || incoming.readableDidRead || incoming.readableEnded) return c.req.text();
  return incomingText(incoming);
}

/** A Node request's body as UTF-8 text, a leading BOM dropped; the caller bounds its size. */
export function incomingText(incoming: IncomingMessage): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error: Error | null, text?: string) => {
      incoming.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (error) {
        incoming.resume(); // let the rest drain; the adapter closes the connection if it is too much
        reject(error);
      } else resolve(text!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => {
      const text = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)).toString('utf8');
      done(null, text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    };
    const onError = () => done(new CoalesceError('cancelled', 'the client went away while sending the request'));
    const onClose = () => {
      if (!incoming.readableEnded) onError();
    };
    incoming.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

const signals = new WeakMap<ServerResponse, CallCancellation>();

/**
 * Aborts when the connection closes before the response was sent (one signal per request). A
 * CallCancellation, not an AbortController: those cost several µs each in Node 20.
 */
export function clientGone(c: Context): CancelSignal {
  const { outgoing } = bindings(c);
  if (!outgoing) return c.req.raw.signal;
  let signal = signals.get(outgoing);
  if (!signal) signals.set(outgoing, (signal = closeSignal(outgoing)));
  return signal;
}

/** Aborts when the connection closes before `outgoing` was sent. */
export function closeSignal(outgoing: ServerResponse): CallCancellation {
  const cancellation = new CallCancellation();
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) cancellation.abort();
  });
  return cancellation;
}
