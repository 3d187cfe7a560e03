/** A worker thread that tokenizes, so heavy tokenization never stalls the event loop doing I/O. */
import { parentPort, workerData } from 'node:worker_threads';
import { HfTokenizer } from './tokenizer.js';
import type { PoolRequest, PoolResponse, TokenizerFiles } from './tokenizer-pool.js';
import type { EncodedText } from '../core/types.js';
import { packGroups } from '../workers/pack-views.js';

const files = workerData as TokenizerFiles;
const tokenizer = HfTokenizer.fromFiles(files.tokenizerPath, files.configPath, files.maxLength);
const port = parentPort!;

function answer(m: PoolRequest): PoolResponse {
  try {
    if (m.op === 'encode') return { id: m.id, ok: true, value: m.texts.map((t) => tokenizer.encode(t, m.options)) };
    if (m.op === 'encode-pairs') return { id: m.id, ok: true, value: m.pairs.map((p) => tokenizer.encodePair(p, m.options)) };
    if (m.op === 'tokenize') return { id: m.id, ok: true, value: m.texts.map((t) => tokenizer.tokenize(t, m.options)) };
    return { id: m.id, ok: true, value: m.ids.map((ids) => tokenizer.decode(ids, m.skipSpecialTokens)) };
  } catch (e) {
    return { id: m.id, ok: false, message: (e as Error).message };
  }
}

/**
 * The encodings of one turn's answers with their token ids packed into one transferred buffer
 * (pack-views.ts), and their segment ids, if any, into another.
 */
function packEncodings(batch: PoolRequest[], responses: PoolResponse[]): ArrayBuffer[] {
  const answers = batch.flatMap((m, i) => {
    const r = responses[i];
    return (m.op === 'encode' || m.op === 'encode-pairs') && r.ok ? [r as { value: EncodedText[] }] : [];
  });
  const ids = packGroups(
    answers.map((r) => r.value.map((e) => e.ids)),
    (n) => new Uint32Array(n),
  );
  const typeIds = packGroups(
    answers.map((r) => r.value.flatMap((e) => (e.typeIds ? [e.typeIds] : []))),
    (n) => new Uint8Array(n),
  );
  answers.forEach((r, i) => {
    let type = 0;
    r.value = r.value.map((e, j) => (e.typeIds ? { ids: ids.groups[i][j], typeIds: typeIds.groups[i][type++] } : { ids: ids.groups[i][j] }));
  });
  return [ids.buffer, typeIds.buffer].filter((b): b is ArrayBuffer => b !== null);
}

// The pool sends one event-loop turn's requests as one array; they are answered as one array.
port.on('message', (batch: PoolRequest[]) => {
  const responses = batch.map(answer);
  port.postMessage(responses, packEncodings(batch, responses));
});
// Ready, with what the HTTP threads need to encode as this tokenizer does (TokenizerPool.specialIds).
port.postMessage({ id: 0, ok: true, value: tokenizer.specialIds(), vocabSize: tokenizer.vocabSize } satisfies PoolResponse & { vocabSize: number });
