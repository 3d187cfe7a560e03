/**
 * The worker thread that owns the ONNX Runtime session. `session.run` blocks its thread for the
 * whole native call (microsoft/onnxruntime#19611), so it runs here and the main event loop only
 * does I/O. The worker receives packed batches, pads them, runs, pools token-level outputs and
 * sends one flat Float32Array back (transferred, not copied).
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { ModelManifest } from '../manifest.js';
import { poolTokens } from '../pooling.js';
import type { EmbedMessage, FromWorker, SessionFacts, SessionSettings, ToWorker } from './protocol.js';
import { float16ToFloat32, padBatch, type IntegerType } from './tensors.js';

const POOLED_OUTPUTS = ['sentence_embedding', 'sentence_embeddings', 'text_embeds', 'embeddings'];
const TOKEN_OUTPUTS = ['last_hidden_state', 'token_embeddings'];

interface Loaded {
  session: ort.InferenceSession;
  manifest: ModelManifest;
  facts: SessionFacts;
  intType: IntegerType;
  wants: { mask: boolean; typeIds: boolean; positions: boolean };
}

let loaded: Loaded | null = null;
const port = parentPort!;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function tensorMeta(session: ort.InferenceSession, name: string, outputs = false) {
  const list = outputs ? session.outputMetadata : session.inputMetadata;
  const meta = list.find((m) => m.name === name);
  return meta && meta.isTensor ? meta : null;
}

function chooseOutput(session: ort.InferenceSession, file: string): { name: string; kind: 'pooled' | 'token' } {
  const names = session.outputNames;
  const pooled = POOLED_OUTPUTS.find((n) => names.includes(n));
  if (pooled) return { name: pooled, kind: 'pooled' };
  const token = TOKEN_OUTPUTS.find((n) => names.includes(n));
  if (token) return { name: token, kind: 'token' };
  // An unnamed single output: its rank tells pooled [B, D] from token-level [B, S, D].
  const rank = names.length === 1 ? tensorMeta(session, names[0], true)?.shape.length : undefined;
  if (rank === 2) return { name: names[0], kind: 'pooled' };
  if (rank === 3) return { name: names[0], kind: 'token' };
  throw new Error(`${file}: no embedding output found (outputs: ${names.join(', ')}; expected one of ${[...POOLED_OUTPUTS, ...TOKEN_OUTPUTS].join(', ')})`);
}

function providers(device: string): string[] {
  if (device === 'cpu') return ['cpu'];
  throw new Error(`device '${device}' is not supported by this build (use cpu)`);
}

async function load(manifest: ModelManifest, settings: SessionSettings): Promise<Loaded> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: providers(settings.device),
    graphOptimizationLevel: 'all',
    ...(settings.intraOpThreads > 0 ? { intraOpNumThreads: settings.intraOpThreads } : {}),
  };
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(manifest.onnxPath, options);
  } catch (e) {
    throw Object.assign(new Error(`cannot be loaded by ONNX Runtime: ${(e as Error).message}`), { file: manifest.onnxPath });
  }
  const inputs = session.inputNames;
  if (!inputs.includes('input_ids')) {
    throw Object.assign(new Error(`takes no input_ids (inputs: ${inputs.join(', ')}): not a text model`), { file: manifest.onnxPath });
  }
  const known = new Set(['input_ids', 'attention_mask', 'token_type_ids', 'position_ids']);
  const unknown = inputs.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw Object.assign(new Error(`needs inputs this server cannot feed: ${unknown.join(', ')}`), { file: manifest.onnxPath });
  }
  const idType = tensorMeta(session, 'input_ids')?.type;
  const intType: IntegerType = idType === 'int32' ? 'int32' : 'int64';
  const output = chooseOutput(session, manifest.onnxPath);
  const l: Loaded = {
    session,
    manifest,
    intType,
    wants: { mask: inputs.includes('attention_mask'), typeIds: inputs.includes('token_type_ids'), positions: inputs.includes('position_ids') },
    facts: { inputNames: [...inputs], outputName: output.name, outputKind: output.kind, dimensions: 0, provider: providers(settings.device)[0] },
  };
  // A probe run tells the output width and proves the graph runs at all.
  const probe = await run(l, new Uint32Array([0, 0]), new Uint8Array(2), new Uint32Array([2]));
  l.facts.dimensions = probe.dimensions;
  if (manifest.hiddenSize !== null && output.kind === 'token' && manifest.hiddenSize !== probe.dimensions) {
    throw Object.assign(new Error(`says hidden_size ${manifest.hiddenSize} but the graph outputs ${probe.dimensions}`), {
      file: manifest.dir + '/config.json',
    });
  }
  return l;
}

async function run(l: Loaded, ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array): Promise<{ vectors: Float32Array; dimensions: number }> {
  const batch = lengths.length;
  const padded = padBatch(ids, typeIds, lengths, l.intType);
  const shape = [batch, padded.seqLen];
  const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor(l.intType, padded.ids, shape) };
  if (l.wants.mask) feeds.attention_mask = new ort.Tensor(l.intType, padded.mask, shape);
  if (l.wants.typeIds) feeds.token_type_ids = new ort.Tensor(l.intType, padded.typeIds, shape);
  if (l.wants.positions) feeds.position_ids = new ort.Tensor(l.intType, padded.positions, shape);
  const results = await l.session.run(feeds, [l.facts.outputName]);
  const out = results[l.facts.outputName];
  const data = out.type === 'float16' ? float16ToFloat32(out.data as Uint16Array) : (out.data as Float32Array);
  const dims = out.dims;
  if (l.facts.outputKind === 'pooled') {
    if (dims.length !== 2 || dims[0] !== batch) throw new Error(`output ${l.facts.outputName} has shape [${dims}], expected [${batch}, D]`);
    return { vectors: data, dimensions: dims[1] };
  }
  if (dims.length !== 3 || dims[0] !== batch) throw new Error(`output ${l.facts.outputName} has shape [${dims}], expected [${batch}, S, D]`);
  return { vectors: poolTokens(l.manifest.pooling, data, lengths, dims[1], dims[2]), dimensions: dims[2] };
}

async function handle(message: ToWorker): Promise<void> {
  if (message.type === 'load') {
    try {
      loaded = await load(message.manifest, message.settings);
      post({ type: 'loaded', facts: loaded.facts });
    } catch (e) {
      const err = e as Error & { file?: string };
      post({ type: 'load-failed', file: err.file ?? message.manifest.onnxPath, problem: err.message });
    }
    return;
  }
  const m: EmbedMessage = message;
  try {
    if (!loaded) throw new Error('no model is loaded');
    const { vectors, dimensions } = await run(loaded, m.ids, m.typeIds, m.lengths);
    // ORT may hand back a view of a larger buffer; copy only then, so the transfer is exact.
    const owned = vectors.byteOffset === 0 && vectors.byteLength === vectors.buffer.byteLength ? vectors : vectors.slice();
    post({ type: 'result', id: m.id, vectors: owned, dimensions }, [owned.buffer as ArrayBuffer]);
  } catch (e) {
    post({ type: 'failed', id: m.id, message: (e as Error).message });
  }
}

// Messages are handled strictly one at a time: ORT runs one batch per session at once anyway.
let chain: Promise<void> = Promise.resolve();
port.on('message', (message: ToWorker) => {
  chain = chain.then(() => handle(message));
});
