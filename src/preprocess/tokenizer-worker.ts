/** A worker thread that tokenizes, so heavy tokenization never stalls the event loop doing I/O. */
import { parentPort, workerData } from 'node:worker_threads';
import { HfTokenizer } from './tokenizer.js';
import type { PoolRequest, PoolResponse, TokenizerFiles } from './tokenizer-pool.js';

const files = workerData as TokenizerFiles;
const tokenizer = HfTokenizer.fromFiles(files.tokenizerPath, files.configPath, files.maxLength);
const port = parentPort!;

function answer(m: PoolRequest, transfer: ArrayBuffer[]): PoolResponse {
  try {
    if (m.op === 'encode') {
      const encoded = m.texts.map((t) => tokenizer.encode(t, m.options));
      for (const e of encoded) transfer.push(e.ids.buffer as ArrayBuffer, ...(e.typeIds ? [e.typeIds.buffer as ArrayBuffer] : []));
      return { id: m.id, ok: true, value: encoded };
    }
    if (m.op === 'tokenize') return { id: m.id, ok: true, value: m.texts.map((t) => tokenizer.tokenize(t, m.options)) };
    return { id: m.id, ok: true, value: m.ids.map((ids) => tokenizer.decode(ids, m.skipSpecialTokens)) };
  } catch (e) {
    return { id: m.id, ok: false, message: (e as Error).message };
  }
}

// The pool sends one event-loop turn's requests as one array; they are answered as one array.
port.on('message', (batch: PoolRequest[]) => {
  const transfer: ArrayBuffer[] = [];
  const responses = batch.map((m) => answer(m, transfer));
  port.postMessage(responses, transfer);
});
port.postMessage({ id: 0, ok: true, value: 'ready' } satisfies PoolResponse);
