/** A worker thread that tokenizes, so heavy tokenization never stalls the event loop doing I/O. */
import { parentPort, workerData } from 'node:worker_threads';
import { HfTokenizer } from './tokenizer.js';
import type { PoolRequest, PoolResponse, TokenizerFiles } from './tokenizer-pool.js';

const files = workerData as TokenizerFiles;
const tokenizer = HfTokenizer.fromFiles(files.tokenizerPath, files.configPath, files.maxLength);
const port = parentPort!;

port.on('message', (m: PoolRequest) => {
  try {
    let response: PoolResponse;
    const transfer: ArrayBuffer[] = [];
    if (m.op === 'encode') {
      const encoded = m.texts.map((t) => tokenizer.encode(t, m.options));
      for (const e of encoded) transfer.push(e.ids.buffer as ArrayBuffer, ...(e.typeIds ? [e.typeIds.buffer as ArrayBuffer] : []));
      response = { id: m.id, ok: true, value: encoded };
    } else if (m.op === 'tokenize') {
      response = { id: m.id, ok: true, value: m.texts.map((t) => tokenizer.tokenize(t, m.options)) };
    } else {
      response = { id: m.id, ok: true, value: m.ids.map((ids) => tokenizer.decode(ids, m.skipSpecialTokens)) };
    }
    port.postMessage(response, transfer);
  } catch (e) {
    port.postMessage({ id: m.id, ok: false, message: (e as Error).message } satisfies PoolResponse);
  }
});
port.postMessage({ id: 0, ok: true, value: 'ready' } satisfies PoolResponse);
