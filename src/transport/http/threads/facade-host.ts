/**
 * The main thread's side of HTTP threads: runs the calls they send on the real facades and
 * answers. Vectors go back as fresh copies in transferred buffers: a vector that views a whole
 * batch's buffer would otherwise be cloned with all of it.
 */
import type { MessagePort } from 'node:worker_threads';
import { toCoalesceError } from '../../../errors.js';
import type { HttpDeps } from '../app.js';
import type { CallMessage, CancelMessage, FacadeMethod, ReplyMessage } from './facade-protocol.js';
import { TurnOutbox } from '../../../workers/turn-outbox.js';
import { CallCancellation } from '../../../core/cancellation.js';

type Handler = (deps: HttpDeps, args: any[]) => unknown;

function images(deps: HttpDeps) {
  if (!deps.images) throw new Error('this model has no image tower');
  return deps.images;
}

const HANDLERS: Record<FacadeMethod, Handler> = {
  'text.embed': (d, [request]) => d.embedder.embed(request),
  'text.tokenize': (d, [request]) => d.embedder.tokenize(request),
  'text.decode': (d, [ids, skipSpecialTokens]) => d.embedder.decode(ids, skipSpecialTokens),
  'images.embed': (d, [request]) => images(d).images.embed(request),
  'classifier.classify': (d, [request]) => images(d).classifier.classify(request),
  'server.ready': (d) => d.ready(),
  'server.info': (d) => d.info(),
  'server.metrics': (d) => d.metrics(),
};

/**
 * Lists the vectors' buffers for transfer: a vector that is all of its buffer (one normalized on
 * the main thread, after truncation) goes as it is, a view into a batch's buffer as a compact copy.
 */
function detachVectors(result: unknown): { value: unknown; transfer: ArrayBuffer[] } {
  const vectors = (result as { vectors?: unknown } | null)?.vectors;
  if (!Array.isArray(vectors)) return { value: result, transfer: [] };
  const seen = new Set<ArrayBufferLike>();
  const copies = vectors.map((v: Float32Array) => {
    const whole = v.byteOffset === 0 && v.byteLength === v.buffer.byteLength && !seen.has(v.buffer);
    seen.add(v.buffer);
    return whole ? v : v.slice();
  });
  return { value: { ...(result as object), vectors: copies }, transfer: copies.map((c) => c.buffer as ArrayBuffer) };
}

/**
 * Serves one HTTP thread's calls until its port closes. Both ways, the messages of one
 * event-loop turn travel together: the answers of one model batch reach a thread as one message.
 */
export function hostFacades(port: MessagePort, deps: HttpDeps): void {
  const cancellations = new Map<number, CallCancellation>();
  const outbox = new TurnOutbox<ReplyMessage>((batch, buffers) => port.postMessage(batch, buffers));
  const reply = (m: ReplyMessage, transfer: ArrayBuffer[] = []) => outbox.push(m, transfer);
  const handle = (m: CallMessage | CancelMessage) => {
    if (m.type === 'cancel') {
      cancellations.get(m.id)?.abort();
      return;
    }
    const cancellation = m.cancellable ? new CallCancellation() : null;
    if (cancellation) cancellations.set(m.id, cancellation);
    const args = cancellation ? [{ ...(m.args[0] as object), signal: cancellation }, ...m.args.slice(1)] : m.args;
    Promise.resolve()
      .then(() => HANDLERS[m.method](deps, args))
      .then(
        (result) => {
          const { value, transfer } = detachVectors(result);
          reply({ type: 'reply', id: m.id, ok: value }, transfer);
        },
        (e) => {
          const error = toCoalesceError(e);
          reply({ type: 'reply', id: m.id, error: { kind: error.kind, message: error.message, param: error.param } });
        },
      )
      .finally(() => cancellations.delete(m.id));
  };
  port.on('message', (batch: (CallMessage | CancelMessage)[]) => {
    for (const m of batch) handle(m);
  });
}
