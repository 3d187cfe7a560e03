/**
 * A worker thread that owns one ONNX Runtime session. `session.run` blocks its thread for the
 * whole native call (microsoft/onnxruntime#19611), so it runs here and the main event loop only
 * does I/O; several of these threads (still one process, one CUDA context) let one batch upload
 * and launch while another computes. The worker receives packed batches, pads them, runs, pools
 * token-level outputs when the graph does not, and sends one flat Float32Array back (transferred).
 */
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { ModelManifest } from '../../model-prep/manifest.js';
import { makeGraph, makeModel, makeNode, makeValueInfo, DataType, encodeModel } from '../../onnx-graph/onnx-proto.js';
import { pickOutput, POOLED_OUTPUTS, TOKEN_OUTPUTS } from '../../onnx-graph/serving-graph.js';
import { poolTokens } from '../../core/pooling.js';
import { cudaUnavailableMessage, parseDevice } from './device.js';
import { pooledRows, serveBatches, sessionOptions, type RunOutput } from './worker-common.js';
import { resolveIntraOpThreads, resolveMemPattern, resolvePadBatchMultiple, resolvePadSeqMultiple, resolveShapeBuckets } from '../../settings.js';
import type { Provider } from '../../settings.js';
import type { EmbedMessage, FromWorker, LoadRequest, SessionFacts } from './protocol.js';
import { float16ToFloat32, padBatch, textRowBucket, type IntegerType } from './tensors.js';
import { SPARSE_INDICES_OUTPUT, SPARSE_VALUES_OUTPUT } from '../../onnx-graph/append-task-heads.js';
import { sparseRows, tokenVectorRows } from './task-rows.js';
import { CudaGraphLane, replayDifference } from './cuda-graph-lane.js';
import { DeviceCallLock } from './device-call-lock.js';

interface Loaded {
  session: ort.InferenceSession;
  pad: { seqMultiple: number; batchMultiple: number; rowBuckets: boolean };
  manifest: ModelManifest;
  facts: SessionFacts;
  intType: IntegerType;
  /** The graph's L2-normalized output, fetched along with the pooled one. */
  normalizedOutput: string | null;
  wants: { mask: boolean; typeIds: boolean; positions: boolean };
  /** --cuda-graphs on: small bucket shapes run here instead of through session.run. */
  lane: CudaGraphLane | null;
}

let loaded: Loaded | null = null;
/**
 * Held shared around every call into ONNX Runtime (sessions created, run, released), exclusively
 * around a CUDA-graph capture: ORT captures in global mode, which any other thread's device call breaks.
 */
let deviceCalls = new DeviceCallLock();

function post(message: FromWorker): void {
  parentPort!.postMessage(message);
}

class DeviceError extends Error {}

function tensorMeta(session: ort.InferenceSession, name: string, outputs = false) {
  const list = outputs ? session.outputMetadata : session.inputMetadata;
  const meta = list.find((m) => m.name === name);
  return meta?.isTensor ? meta : null;
}

/** For graphs the main thread could not read: the session's metadata decides. */
function chooseOutput(session: ort.InferenceSession, file: string): { name: string; kind: 'pooled' | 'token' } {
  const names = session.outputNames;
  const output = pickOutput(names, () => tensorMeta(session, names[0], true)?.shape.length);
  if (output) return output;
  throw new Error(`${file}: no embedding output found (outputs: ${names.join(', ')}; expected one of ${[...POOLED_OUTPUTS, ...TOKEN_OUTPUTS].join(', ')})`);
}

/** A one-node graph: creating a session from it proves the CUDA provider loads and sees the GPU. */
function probeGraph(): Uint8Array {
  const graph = makeGraph({
    name: 'coalesce_cuda_probe',
    nodes: [makeNode('Identity', ['x'], ['y'])],
    inputs: [makeValueInfo('x', DataType.FLOAT, [1])],
    outputs: [makeValueInfo('y', DataType.FLOAT, [1])],
  });
  return encodeModel(makeModel(graph));
}

/** Resolves --device to providers; for auto, falls back to the CPU with a note when CUDA does not load. */
async function chooseProviders(
  device: string,
  notes: string[],
): Promise<{ eps: ort.InferenceSession.ExecutionProviderConfig[]; provider: Provider; device: string }> {
  const request = parseDevice(device);
  if (request.kind === 'cpu') return { eps: ['cpu'], provider: 'cpu', device: 'cpu' };
  const id = request.kind === 'cuda' ? request.id : 0;
  try {
    await deviceCalls.shared(async () => {
      const probe = await ort.InferenceSession.create(probeGraph(), { executionProviders: [{ name: 'cuda', deviceId: id }], logSeverityLevel: 4 });
      await probe.release();
    });
  } catch (e) {
    const message = cudaUnavailableMessage((e as Error).message);
    if (request.kind === 'auto') {
      notes.push(`--device auto: running on the CPU because ${message}`);
      return { eps: ['cpu'], provider: 'cpu', device: 'cpu' };
    }
    throw new DeviceError(`--device ${device}: ${message}`);
  }
  return { eps: [{ name: 'cuda', deviceId: id }], provider: 'cuda', device: `cuda:${id}` };
}

async function load({ manifest, settings, graph }: LoadRequest): Promise<Loaded> {
  deviceCalls = new DeviceCallLock(settings.deviceLock);
  const notes: string[] = graph.note && graph.outputKind === 'token' ? [`pooling on the host: ${graph.note}`] : [];
  const chosen = await chooseProviders(settings.device, notes);
  const provider = chosen.provider;
  const options = sessionOptions(chosen.eps, resolveIntraOpThreads(settings.intraOpThreads, provider), {
    enableMemPattern: resolveMemPattern(settings.memPattern ?? 'auto'),
  });
  let session: ort.InferenceSession;
  try {
    // The binding takes no SharedArrayBuffer: copy (ORT keeps its own copy of the weights anyway).
    session = await deviceCalls.shared(() =>
      graph.bytes ? ort.InferenceSession.create(new Uint8Array(graph.bytes), options) : ort.InferenceSession.create(manifest.onnxPath, options),
    );
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
  const output = graph.outputName && graph.outputKind ? { name: graph.outputName, kind: graph.outputKind } : chooseOutput(session, manifest.onnxPath);
  const buckets = resolveShapeBuckets(settings.shapeBuckets ?? 'off', provider);
  const l: Loaded = {
    session,
    pad: {
      seqMultiple: resolvePadSeqMultiple(settings.seqMultiple ?? 0, buckets, provider),
      batchMultiple: resolvePadBatchMultiple(settings.batchMultiple ?? 0),
      rowBuckets: buckets,
    },
    manifest,
    intType,
    normalizedOutput: graph.normalizedOutputName,
    wants: { mask: inputs.includes('attention_mask'), typeIds: inputs.includes('token_type_ids'), positions: inputs.includes('position_ids') },
    lane: null,
    facts: {
      inputNames: [...inputs],
      outputName: output.name,
      outputKind: output.kind,
      tokenOutput: graph.tokenOutputName ?? (output.kind === 'token' ? output.name : null),
      pooledInGraph: graph.pooledInGraph,
      dimensions: 0,
      provider: chosen.provider,
      device: chosen.device,
      notes,
      warmup: { shapes: 0, ms: 0, total: 0 },
    },
  };
  // A probe run tells the output width and proves the graph runs at all.
  const probe = await run(l, new Uint32Array([0, 0]), new Uint8Array(2), new Uint32Array([2]));
  l.facts.dimensions = probe.dimensions;
  if (manifest.hiddenSize !== null && (output.kind === 'token' || graph.pooledInGraph) && manifest.hiddenSize !== probe.dimensions) {
    throw Object.assign(new Error(`says hidden_size ${manifest.hiddenSize} but the graph outputs ${probe.dimensions}`), {
      file: manifest.dir + '/config.json',
    });
  }
  if (buckets) l.facts.warmup = await warmShapes(l, settings, graph.removesPadding);
  const graphs = settings.cudaGraphs ?? 'off';
  if (graphs !== 'off') {
    const why = laneUnavailable(graphs === 'on' && provider !== 'cuda', buckets, output.kind, graph.removesPadding);
    if (why) notes.push(`--cuda-graphs ${graphs}: not used because ${why}`);
    else {
      const target = parseDevice(chosen.device);
      const model = graph.bytes ? new Uint8Array(graph.bytes).slice() : manifest.onnxPath;
      const shapes = laneShapes(l, settings, graph.removesPadding);
      await openLane(l, model, shapes, graphs === 'on' ? 'cuda' : 'cpu-simulation', target.kind === 'cuda' ? target.id : 0);
    }
  }
  return l;
}

/** Why the CUDA-graph lane cannot serve this model, or null when it can. */
function laneUnavailable(noCuda: boolean, buckets: boolean, outputKind: string, removesPadding: boolean): string | null {
  if (noCuda) return 'it needs the CUDA provider';
  if (!buckets) return 'it needs shape buckets (--shape-buckets)';
  if (outputKind !== 'pooled') return 'the graph outputs token states, not pooled vectors';
  if (removesPadding) return 'the graph removes padding (its inner shapes follow the tokens, which a replayed graph cannot)';
  return null;
}

/** The bucket shapes the lane captures: those a batch can pad to, of at most --cuda-graph-tokens padded tokens. */
function laneShapes(l: Loaded, settings: LoadRequest['settings'], removesPadding: boolean): Shape[] {
  const most = settings.cudaGraphTokens ?? 1024;
  return bucketShapes(l, settings.warmupTokens ?? 16384, settings.warmupRows ?? 256, removesPadding).filter((s) => s.length * s[0] <= most);
}

/**
 * Opens the CUDA-graph lane and captures its shapes. Each shape is then checked against
 * session.run on a batch padded differently from the one captured (a replayed graph must read the
 * new ids and mask); a graph ORT will not capture, or one whose replay differs, leaves the model
 * served without the lane, with a note saying why.
 */
async function openLane(l: Loaded, model: Uint8Array | string, shapes: Shape[], mode: 'cuda' | 'cpu-simulation', deviceId: number): Promise<void> {
  const started = performance.now();
  const outputs = l.normalizedOutput ? [l.facts.outputName, l.normalizedOutput] : [l.facts.outputName];
  const label = `--cuda-graphs ${mode === 'cuda' ? 'on' : mode}`;
  let lane: CudaGraphLane | null = null;
  try {
    if (shapes.length === 0) throw new Error('no bucket shape fits --cuda-graph-tokens');
    lane = deviceCalls.shared(() => CudaGraphLane.open({ model, deviceId, outputs, mode }));
    for (const shape of shapes) {
      const rows = shape.length;
      const length = shape[0];
      const lengths = new Uint32Array(rows).fill(1);
      lengths[0] = length;
      const total = rows - 1 + length;
      const batch = pad(l, new Uint32Array(total), new Uint8Array(total), lengths);
      // One shape at a time: other threads' runs go on between captures.
      deviceCalls.exclusive(() => lane!.capture(batch));
      await checkReplay(l, lane, rows, length);
    }
    l.lane = lane;
    const most = Math.max(...shapes.map((s) => s.length * s[0]));
    const widest = Math.max(...shapes.map((s) => s.length));
    const longest = Math.max(...shapes.map((s) => s[0]));
    l.facts.notes.push(
      `${label}: ${lane.shapes} shapes (padded batches of up to ${most} tokens: up to ${widest} inputs, up to ${longest} tokens each) captured and checked against session.run in ${Math.round(performance.now() - started)} ms; a second copy of the weights on the device`,
    );
  } catch (e) {
    if (lane) deviceCalls.shared(() => lane!.close());
    l.facts.notes.push(`${label}: not used because ${(e as Error).message}`);
  }
}

/** A batch of the captured shape with other ids and a ragged mask, through the lane and through session.run (l.lane is not set yet). */
async function checkReplay(l: Loaded, lane: CudaGraphLane, rows: number, length: number): Promise<void> {
  const lengths = Uint32Array.from({ length: rows }, (_, r) => (r === 0 ? length : 1 + ((r * 7) % length)));
  const total = lengths.reduce((a, b) => a + b, 0);
  // Small ids exist in every vocabulary.
  const ids = Uint32Array.from({ length: total }, (_, i) => 1 + ((i * 13) % 97));
  const typeIds = new Uint8Array(total);
  const expected = await run(l, ids, typeIds, lengths);
  const got = deviceCalls.shared(() => lane.run(pad(l, ids, typeIds, lengths)));
  if (!got) throw new Error(`shape ${rows} x ${length} was not bound`);
  const differs = replayDifference(expected.vectors, got[0]);
  if (differs) throw new Error(`its replay of ${rows} x ${length} differs from session.run (${differs})`);
}

/** One bucket shape: the row lengths of a batch that pads to it. */
type Shape = Uint32Array;

/**
 * Every bucket shape a batch within the batcher's budgets can pad to, shortest lengths first.
 * ONNX Runtime's CUDA provider paid ~60 ms the first time a session met a shape (on an H100, a
 * first pass over 41 W2 batch shapes ran at 0.3-0.5 M tokens/s, the next at 1.6 M), and the
 * dynamic batcher makes a new (rows, length) pair almost every call unless shapes are bucketed and warmed.
 */
function bucketShapes(l: Loaded, budgetTokens: number, maxRows: number, removesPadding: boolean): Shape[] {
  const step = l.pad.seqMultiple;
  const shapes: Shape[] = [];
  for (let seq = step; seq <= l.manifest.maxLength + step - 1; seq += step) {
    const length = Math.min(seq, l.manifest.maxLength);
    // The shortest input padded to this length decides how many rows the batcher can put together;
    // a graph that removes padding is charged real tokens, so one long input and many one-token ones fit.
    const shortest = removesPadding ? 1 : Math.max(1, length - step + 1);
    const most = Math.min(maxRows, Math.floor(budgetTokens / shortest));
    for (let rows = 1; rows <= textRowBucket(Math.max(1, most)); rows = textRowBucket(rows + 1)) {
      // Only the padded shape matters here: one input of the full length, the others as short as the budget allows.
      const lengths = new Uint32Array(rows).fill(removesPadding ? 1 : length);
      lengths[0] = length;
      shapes.push(lengths);
    }
    if (length === l.manifest.maxLength) break;
  }
  return shapes;
}

/**
 * Shapes warmed before the model reports healthy with --shape-warmup background: short inputs in
 * small batches, what a lightly loaded server meets first (BERT-style traffic is mostly under 128
 * tokens); the rest warm while serving.
 */
const COMMON_SHAPE = { maxLength: 128, maxRows: 32 };
const isCommon = (shape: Shape) => shape[0] <= COMMON_SHAPE.maxLength && shape.length <= COMMON_SHAPE.maxRows;

async function warmOne(l: Loaded, lengths: Shape): Promise<void> {
  const total = lengths.reduce((n, x) => n + x, 0);
  await run(l, new Uint32Array(total), new Uint8Array(total), lengths);
}

/** Shapes still to warm while serving (--shape-warmup background), one per idle moment of the session. */
let pendingShapes: Shape[] = [];
let shapesTotal = 0;

async function warmShapes(l: Loaded, settings: LoadRequest['settings'], removesPadding: boolean): Promise<SessionFacts['warmup']> {
  const started = performance.now();
  const all = bucketShapes(l, settings.warmupTokens ?? 16384, settings.warmupRows ?? 256, removesPadding);
  const background = settings.shapeWarmup === 'background';
  const now = background ? all.filter(isCommon) : all;
  pendingShapes = background ? all.filter((s) => !isCommon(s)) : [];
  shapesTotal = all.length;
  for (const shape of now) await warmOne(l, shape);
  return { shapes: now.length, ms: performance.now() - started, total: all.length };
}

/** Warms one pending shape; false when none is left. Runs only while the session has no batch. */
async function warmPendingShape(): Promise<boolean> {
  const shape = pendingShapes.shift();
  if (!shape || !loaded) return false;
  try {
    await warmOne(loaded, shape);
  } catch {
    // A shape that fails to warm fails again for a real batch, which reports it; nothing to add here.
  }
  post({ type: 'warmup-progress', done: shapesTotal - pendingShapes.length, total: shapesTotal });
  return pendingShapes.length > 0;
}

function pad(l: Loaded, ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array) {
  return padBatch(ids, typeIds, lengths, l.intType, { positions: l.wants.positions, typeIds: l.wants.typeIds, ...l.pad, maxSeqLen: l.manifest.maxLength });
}

/** `tokens`: the token states of every input instead of its pooled vector (TEI's /embed_all). */
async function run(l: Loaded, ids: Uint32Array, typeIds: Uint8Array, lengths: Uint32Array, tokens = false): Promise<RunOutput> {
  const batch = lengths.length;
  const padded = pad(l, ids, typeIds, lengths);
  const lane = l.lane;
  const fromGraph = lane && !tokens && l.facts.outputKind === 'pooled' ? deviceCalls.shared(() => lane.run(padded)) : null;
  if (fromGraph) {
    const dimensions = fromGraph[0].length / padded.rows;
    const rows = (data: Float32Array) => data.subarray(0, batch * dimensions);
    return { vectors: rows(fromGraph[0]), normalized: fromGraph[1] ? rows(fromGraph[1]) : undefined, dimensions };
  }
  const shape = [padded.rows, padded.seqLen];
  const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor(l.intType, padded.ids, shape) };
  if (l.wants.mask) feeds.attention_mask = new ort.Tensor(l.intType, padded.mask, shape);
  if (l.wants.typeIds) feeds.token_type_ids = new ort.Tensor(l.intType, padded.typeIds, shape);
  if (l.wants.positions) feeds.position_ids = new ort.Tensor(l.intType, padded.positions, shape);
  if (tokens) {
    const name = l.facts.tokenOutput;
    if (!name) throw new Error('the graph outputs no token states');
    return tokenVectorRows((await deviceCalls.shared(() => l.session.run(feeds, [name])))[name], lengths);
  }
  const kind = l.facts.outputKind;
  const fetches =
    kind === 'sparse' ? [SPARSE_INDICES_OUTPUT, SPARSE_VALUES_OUTPUT] : l.normalizedOutput ? [l.facts.outputName, l.normalizedOutput] : [l.facts.outputName];
  const results = await deviceCalls.shared(() => l.session.run(feeds, fetches));
  if (kind === 'sparse') return sparseRows(results[SPARSE_INDICES_OUTPUT], results[SPARSE_VALUES_OUTPUT], batch);
  const out = results[l.facts.outputName];
  if (kind === 'token-vectors') return tokenVectorRows(out, lengths);
  if (l.facts.outputKind === 'pooled') {
    const { rows: vectors, dimensions } = pooledRows(out, l.facts.outputName, padded.rows, batch);
    const normalized = l.normalizedOutput ? pooledRows(results[l.normalizedOutput], l.normalizedOutput, padded.rows, batch).rows : undefined;
    return { vectors, normalized, dimensions };
  }
  const dims = out.dims;
  const data = out.type === 'float16' ? float16ToFloat32(out.data as Uint16Array) : (out.data as Float32Array);
  if (dims.length !== 3 || dims[0] !== padded.rows) throw new Error(`output ${l.facts.outputName} has shape [${dims}], expected [${padded.rows}, S, D]`);
  return { vectors: poolTokens(l.manifest.pooling, data, lengths, dims[1], dims[2]), dimensions: dims[2] };
}

serveBatches<LoadRequest, EmbedMessage>(
  async (message) => {
    try {
      loaded = await load(message);
      post({ type: 'loaded', facts: loaded.facts });
    } catch (e) {
      const err = e as Error & { file?: string };
      if (err instanceof DeviceError) post({ type: 'device-failed', problem: err.message });
      else post({ type: 'load-failed', file: err.file ?? message.manifest.onnxPath, problem: err.message });
    }
  },
  async (m) => {
    if (!loaded) throw new Error('no model is loaded');
    return run(loaded, m.ids, m.typeIds, m.lengths, m.tokens === true);
  },
  (taken) => run(loaded!, taken.ids, taken.typeIds, taken.lengths),
  warmPendingShape,
  // The lane's session and buffers are ORT's process-wide memory (a copy of the weights on the
  // device): thread exit does not return them. A batch after this runs through session.run.
  () => {
    const lane = loaded?.lane;
    if (loaded) loaded.lane = null;
    if (lane) deviceCalls.shared(() => lane.close());
  },
);
