/**
 * Reading a request straight from Node's IncomingMessage: the body as text under the payload
 * limit, headers from Node's parsed object, and a cancellation signal when the client goes away.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CoalesceError } from '../../errors.js';
import { CallCancellation } from '../../core/cancellation.js';

export const tooLarge = (limit: number) =>
  new CoalesceError('payload_too_large', `the request body is over the payload limit of ${limit} bytes (--payload-limit)`);

/** The body's size by its Content-Length; null when it has none or is chunked, so only reading it tells. */
export function declaredLength(incoming: IncomingMessage): number | null {
  const length = incoming.headers['content-length'];
  return length === undefined || incoming.headers['transfer-encoding'] !== undefined ? null : Number(length);
}

export function nodeHeader(incoming: IncomingMessage, name: string): string | undefined {
  const value = incoming.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * A Node request's body as UTF-8 text, a leading BOM dropped. A Content-Length over `limit` is
 * refused before anything is read; a chunked body, as soon as it grows past it.
 */
export function incomingText(incoming: IncomingMessage, limit: number): Promise<string> {
  const length = declaredLength(incoming);
  if (length !== null && length > limit) return Promise.reject(tooLarge(limit));
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error: Error | null, text?: string) => {
      incoming.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (error) {
        incoming.resume(); // let the rest drain; a body over the limit ends its connection (listener.ts)
        reject(error);
      } else resolve(text!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return done(tooLarge(limit));
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

/**
 * Aborts when the connection closes before `outgoing` was sent. A CallCancellation, not an
 * AbortController: those cost several µs each.
 */
export function closeSignal(outgoing: ServerResponse): CallCancellation {
  const cancellation = new CallCancellation();
  // The connection may have closed before the request was read to its end.
  if (!outgoing.writableFinished && (outgoing.destroyed || !outgoing.socket || outgoing.socket.destroyed)) cancellation.abort();
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) cancellation.abort();
  });
  return cancellation;
}
