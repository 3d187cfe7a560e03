/**
 * The main thread's side of HTTP threads: runs the calls they send on the real facades and
 * answers. The vectors of one turn's answers go back packed in one transferred buffer.
 */
import type { MessagePort } from 'node:worker_threads';
import { toCoalesceError } from '../../../errors.js';
import { modelsOf, type HttpDeps, type HttpModel } from '../app.js';
import type { CallMessage, CancelMessage, FacadeMethod, ReplyMessage } from './facade-protocol.js';
import { TurnOutbox } from '../../../workers/turn-outbox.js';
import { CallCancellation } from '../../../core/cancellation.js';
import { packGroups } from '../../../workers/pack-views.js';

// biome-ignore lint/suspicious/noExplicitAny: each handler takes its own method's argument types
type Handler = (deps: HttpDeps, args: any[], model: HttpModel) => unknown;

function images(model: HttpModel) {
  if (!model.images) throw new Error(`the model ${model.name} has no image tower`);
  return model.images;
}

const HANDLERS: Record<FacadeMethod, Handler> = {
  'text.embed': (_d, [request], m) => m.embedder.embed(request),
  'text.tokenize': (_d, [request], m) => m.embedder.tokenize(request),
  'text.decode': (_d, [ids, skipSpecialTokens], m) => m.embedder.decode(ids, skipSpecialTokens),
  'text.rerank': (_d, [request], m) => m.embedder.rerank(request),
  'text.predict': (_d, [request], m) => m.embedder.predict(request),
  'text.embedSparse': (_d, [request], m) => m.embedder.embedSparse(request),
  'text.embedAll': (_d, [request], m) => m.embedder.embedAll(request),
  'images.embed': (_d, [request], m) => images(m).images.embed(request),
  'classifier.classify': (_d, [request], m) => images(m).classifier.classify(request),
  'model.info': (d, _args, m) => (m.info ?? d.info)(),
  'server.ready': (d) => d.ready(),
  'server.info': (d) => d.info(),
  'server.metrics': (d) => d.metrics(),
};

/**
 * The vectors of one turn's replies, packed into one transferred buffer (pack-views.ts). A vector
 * that views a whole batch's buffer would otherwise be cloned with all of it.
 */
function packVectors(replies: ReplyMessage[]): ArrayBuffer[] {
  const withVectors = replies.flatMap((r) => {
    const ok = 'ok' in r ? (r.ok as { vectors?: unknown } | null) : null;
    return ok && Array.isArray(ok.vectors) ? [ok as { vectors: Float32Array[] }] : [];
  });
  const { groups, buffer } = packGroups(
    withVectors.map((ok) => ok.vectors),
    (n) => new Float32Array(n),
  );
  // The results are this call's own objects: they take their packed views in place.
  withVectors.forEach((ok, i) => (ok.vectors = groups[i]));
  return buffer ? [buffer] : [];
}

/**
 * Serves one HTTP thread's calls until its port closes. Both ways, the messages of one
 * event-loop turn travel together: the answers of one model batch reach a thread as one message.
 */
export function hostFacades(port: MessagePort, deps: HttpDeps): void {
  const cancellations = new Map<number, CallCancellation>();
  const outbox = new TurnOutbox<ReplyMessage>((batch) => port.postMessage(batch, packVectors(batch)));
  const reply = (m: ReplyMessage) => outbox.push(m);
  const models = modelsOf(deps);
  const handle = (m: CallMessage | CancelMessage) => {
    if (m.type === 'cancel') {
      cancellations.get(m.id)?.abort();
      return;
    }
    const cancellation = m.cancellable ? new CallCancellation() : null;
    if (cancellation) cancellations.set(m.id, cancellation);
    const args = cancellation ? [{ ...(m.args[0] as object), signal: cancellation }, ...m.args.slice(1)] : m.args;
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(HANDLERS[m.method](deps, args, models.get(m.model)));
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      (ok) => {
        cancellations.delete(m.id);
        reply({ type: 'reply', id: m.id, ok });
      },
      (e) => {
        cancellations.delete(m.id);
        const error = toCoalesceError(e);
        reply({ type: 'reply', id: m.id, error: { kind: error.kind, message: error.message, param: error.param } });
      },
    );
  };
  port.on('message', (batch: (CallMessage | CancelMessage)[]) => {
    for (const m of batch) handle(m);
  });
}
