/**
 * The call shapes the services use. Unary: one request, one answer, errors as statuses.
 * Bidirectional streams as TEI serves them: every request message is handled concurrently (so
 * one stream's messages share batches), answers go out in request order, and the first error
 * ends the stream with its status. Memory stays bounded: at most `maxInFlight` messages are
 * being handled or waiting to be written; at the cap the stream stops reading (HTTP/2 flow
 * control then holds the client back), and a slow reader stops the writes via write() === false.
 *
 * A stream may stay open for hours, so a server that is shutting down cannot wait for its client
 * to end it. When `closing` aborts, a stream handles no further message, answers every message it
 * had already taken, and ends with UNAVAILABLE (unless its client had sent everything): the client
 * knows from the answers, which come in order, that exactly the messages after the last answered
 * one were not handled, and sends them again on a new stream (to another replica). A stream
 * opened once the server is closing is refused the same way, handling nothing.
 */
import type { Metadata, sendUnaryData, ServerDuplexStream, ServerReadableStream, ServerUnaryCall } from '@grpc/grpc-js';
import { setMaxListeners } from 'node:events';
import { CoalesceError, isCoalesceError, overLimit } from '../../errors.js';
import { callScope, decoded } from './errors.js';
import type { MalformedMessage } from './protos.js';

export interface UnaryResult<Res> {
  response: Res;
  /** Sent as response headers before the message (TEI's x-* timing headers). */
  metadata?: Metadata;
}

export function unary<Req, Res>(handle: (request: Req, signal: AbortSignal, metadata: Metadata) => Promise<UnaryResult<Res>>) {
  return (call: ServerUnaryCall<Req | MalformedMessage, Res>, callback: sendUnaryData<Res>): void => {
    const scope = callScope(call);
    (async () => handle(decoded(call.request), scope.signal, call.metadata))().then(
      ({ response, metadata }) => {
        scope.dispose();
        if (metadata) call.sendMetadata(metadata);
        callback(null, response);
      },
      (e: unknown) => {
        const error = scope.failure(e);
        scope.dispose();
        callback(error);
      },
    );
  };
}

export interface StreamOptions {
  /** Messages of one stream handled or unwritten at once. */
  maxInFlight: number;
  /** Aborts when the server begins closing: every bidirectional stream then winds down (see above). */
  closing?: AbortSignal;
}

/** The status a stream wound down by the server's shutdown ends with (UNAVAILABLE: try another replica). */
export const streamClosedByShutdown = () =>
  new CoalesceError(
    'unhealthy',
    'the server is shutting down: the messages after the last one answered on this stream were not handled; send them again on a new stream',
  );

/** How long a stream message waits before asking admission again (doubling up to the max). */
const RETRY_FIRST_MS = 1;
const RETRY_MAX_MS = 50;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });

export function orderedStream<Req, Res>(handle: (request: Req, signal: AbortSignal, metadata: Metadata) => Promise<Res>, options: StreamOptions) {
  return (call: ServerDuplexStream<Req | MalformedMessage, Res>): void => serveOrderedStream(call, handle, options);
}

function serveOrderedStream<Req, Res>(
  call: ServerDuplexStream<Req | MalformedMessage, Res>,
  handle: (request: Req, signal: AbortSignal, metadata: Metadata) => Promise<Res>,
  options: StreamOptions,
): void {
  const scope = callScope(call);
  const { signal } = scope;
  // Every message in flight listens on the stream's signal (through the batcher): that is the design, not a leak.
  setMaxListeners(options.maxInFlight * 2 + 8, signal);
  const pending: Promise<Res>[] = [];
  let inputEnded = false;
  let finished = false;
  let flushing = false;
  let paused = false;
  /** The server is closing: no further message is handled. */
  let closing = false;
  /** Messages that arrived after that and were not handled. */
  let refused = 0;

  /**
   * A unary call over the admission limit gets RESOURCE_EXHAUSTED at once; a stream message
   * waits for a permit instead (as TEI's streams do): the client asked for a pipeline, not for
   * one error ending it. The call's deadline still bounds the wait. Embedding handlers wait in
   * the facade (waitForPermit), so a message is counted once in te_request_*, as the client saw
   * it; this retry covers the others (tokenize, decode), which metrics do not count.
   */
  async function handleAdmitted(request: Req | MalformedMessage): Promise<Res> {
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        return await handle(decoded(request), signal, call.metadata);
      } catch (e) {
        if (!isCoalesceError(e) || e.kind !== 'overloaded' || signal.aborted) throw e;
        await sleep(delay, signal);
      }
    }
  }

  function fail(thrown: unknown): void {
    if (finished) return;
    finished = true;
    options.closing?.removeEventListener('abort', windDown);
    const error = scope.failure(thrown);
    scope.abort(thrown); // the messages still in flight drop out of the batcher
    scope.dispose();
    pending.length = 0;
    // grpc-js' documented way to end a server stream with a status.
    call.emit('error', error);
  }

  function finish(): void {
    if (finished) return;
    finished = true;
    options.closing?.removeEventListener('abort', windDown);
    if (closing && (!inputEnded || refused > 0)) {
      // After the answers already queued (grpc-js sends the status once every write has gone out).
      const error = scope.failure(streamClosedByShutdown());
      scope.dispose();
      call.emit('error', error);
      return;
    }
    scope.dispose();
    call.end();
  }

  function windDown(): void {
    if (finished || closing) return;
    closing = true;
    // Read on, so that the client's end is seen (what arrives meanwhile is refused, not handled).
    if (paused) {
      paused = false;
      call.resume();
    }
    void flush();
  }

  const writable = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        call.removeListener('drain', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      call.once('drain', done);
      signal.addEventListener('abort', done, { once: true });
    });

  async function flush(): Promise<void> {
    if (flushing) return;
    flushing = true;
    try {
      while (!finished && pending.length > 0) {
        let response: Res;
        try {
          response = await pending[0];
        } catch (e) {
          fail(e);
          return;
        }
        if (finished) return;
        pending.shift();
        if (paused && pending.length < options.maxInFlight) {
          paused = false;
          call.resume();
        }
        if (!call.write(response)) await writable();
        if (signal.aborted) return fail(signal.reason);
      }
      if ((inputEnded || closing) && pending.length === 0) finish();
    } finally {
      flushing = false;
    }
  }

  call.on('data', (request: Req | MalformedMessage) => {
    if (finished) return;
    if (closing) {
      refused++;
      return;
    }
    const response = handleAdmitted(request);
    response.catch(() => {}); // observed in order by flush(); this only silences the early rejection
    pending.push(response);
    if (!paused && pending.length >= options.maxInFlight) {
      paused = true;
      call.pause();
    }
    void flush();
  });
  call.on('end', () => {
    inputEnded = true;
    void flush();
  });
  signal.addEventListener('abort', () => fail(signal.reason), { once: true });
  if (options.closing?.aborted) windDown();
  else options.closing?.addEventListener('abort', windDown, { once: true });
}

/**
 * A client stream answered once (TEI's RerankStream: one text per message, one ranking at the
 * end). More than `maxMessages` messages fail the call, as a request over the batch size limit does.
 */
export function collected<Req, Res>(handle: (requests: Req[], signal: AbortSignal, metadata: Metadata) => Promise<UnaryResult<Res>>, maxMessages: number) {
  return (call: ServerReadableStream<Req | MalformedMessage, Res>, callback: sendUnaryData<Res>): void => {
    const scope = callScope(call);
    const requests: Req[] = [];
    let done = false;
    const fail = (e: unknown) => {
      if (done) return;
      done = true;
      const error = scope.failure(e);
      scope.dispose();
      callback(error);
    };
    call.on('data', (request: Req | MalformedMessage) => {
      if (done) return;
      try {
        requests.push(decoded(request));
        if (requests.length > maxMessages) {
          throw overLimit(`Input validation error: a stream may carry at most ${maxMessages} texts (--max-client-batch-size)`, 'text');
        }
      } catch (e) {
        fail(e);
        call.destroy();
      }
    });
    call.on('error', fail);
    call.on('end', () => {
      if (done) return;
      handle(requests, scope.signal, call.metadata).then(({ response, metadata }) => {
        if (done) return;
        done = true;
        scope.dispose();
        if (metadata) call.sendMetadata(metadata);
        callback(null, response);
      }, fail);
    });
  };
}
