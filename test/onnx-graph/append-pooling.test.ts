import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { appendPooling, AppendPoolingError } from '../../src/onnx-graph/append-pooling.js';
import {
  DataType,
  decodeModel,
  encodeModel,
  floatTensor,
  makeGraph,
  makeModel,
  makeNode,
  makeValueInfo,
  attrInt,
  type ModelProto,
} from '../../src/onnx-graph/onnx-proto.js';
import { poolTokens, type Pooling } from '../../src/core/pooling.js';
import { padBatch } from '../../src/backend/ort/tensors.js';
import { assertClose, TINY_BERT } from '../helpers/server.js';

interface Reference {
  input_ids: number[][];
  mean: number[][];
  cls: number[][];
  max: number[][];
  lasttoken: number[][];
  mean_normalized: number[][];
}

const reference = JSON.parse(readFileSync(`${TINY_BERT}/reference.json`, 'utf8')) as Reference;
const tinyBert = () => decodeModel(readFileSync(`${TINY_BERT}/model.onnx`));

/** The reference sentences as one right-padded batch, as the session worker feeds them. */
function referenceFeeds(): Record<string, ort.Tensor> {
  const lengths = Uint32Array.from(reference.input_ids, (r) => r.length);
  const ids = Uint32Array.from(reference.input_ids.flat());
  const padded = padBatch(ids, new Uint8Array(ids.length), lengths, 'int64');
  const shape = [lengths.length, padded.seqLen];
  return {
    input_ids: new ort.Tensor('int64', padded.ids, shape),
    attention_mask: new ort.Tensor('int64', padded.mask, shape),
    token_type_ids: new ort.Tensor('int64', padded.typeIds, shape),
  };
}

async function runPooled(model: ModelProto, feeds: Record<string, ort.Tensor>, output: string): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    assert.deepEqual(session.outputNames, [output], 'only the pooled output is left');
    return (await session.run(feeds))[output];
  } finally {
    await session.release();
  }
}

function rows(t: ort.Tensor): number[][] {
  const [b, d] = t.dims;
  const data = t.data as Float32Array;
  return Array.from({ length: b }, (_, i) => Array.from(data.subarray(i * d, (i + 1) * d)));
}

const CASES: [Pooling, keyof Reference][] = [
  ['mean', 'mean'],
  ['cls', 'cls'],
  ['max', 'max'],
  ['last_token', 'lasttoken'],
];

for (const [pooling, key] of CASES) {
  test(`tiny-bert with ${pooling} appended matches sentence-transformers (${key})`, async () => {
    const { model, outputName, normalizedOutputName, addedMaskInput } = appendPooling(tinyBert(), { pooling, tokenOutput: 'last_hidden_state' });
    assert.equal(addedMaskInput, false);
    assert.equal(normalizedOutputName, null);
    assert.deepEqual(
      model.graph!.output!.map((o) => o.name),
      [outputName],
    );
    const out = await runPooled(model, referenceFeeds(), outputName);
    assert.equal(out.type, 'float32');
    assert.deepEqual(out.dims, [reference.input_ids.length, 32]);
    const expected = reference[key] as number[][];
    rows(out).forEach((row, i) => assertClose(row, expected[i], 2e-5, 2e-4, `${key}[${i}]`));
  });
}

test('a normalized output next to the pooled one matches sentence-transformers with its Normalize module', async () => {
  const { model, outputName, normalizedOutputName } = appendPooling(tinyBert(), { pooling: 'mean', tokenOutput: 'last_hidden_state', normalized: true });
  assert.ok(normalizedOutputName);
  assert.deepEqual(
    model.graph!.output!.map((o) => o.name),
    [outputName, normalizedOutputName],
  );
  const s = await ort.InferenceSession.create(encodeModel(model), { executionProviders: ['cpu'] });
  try {
    const r = await s.run(referenceFeeds(), [outputName, normalizedOutputName]);
    rows(r[outputName]).forEach((row, i) => assertClose(row, reference.mean[i], 2e-5, 2e-4, `mean[${i}]`));
    rows(r[normalizedOutputName]).forEach((row, i) => assertClose(row, reference.mean_normalized[i], 2e-5, 2e-4, `mean_normalized[${i}]`));
  } finally {
    await s.release();
  }
});

test('a float16 token output is pooled in float32 and stays close to the float32 reference', async () => {
  const base = tinyBert();
  const graph = base.graph!;
  // Turn the output into float16, as fp16 exports without keep_io_types do.
  graph.node!.push(makeNode('Cast', ['last_hidden_state'], ['hidden_fp16'], [attrInt('to', DataType.FLOAT16)]));
  graph.output = [makeValueInfo('hidden_fp16', DataType.FLOAT16, ['batch', 'seq', 32])];
  for (const [pooling, key] of CASES.slice(0, 4)) {
    const { model, outputName } = appendPooling(base, { pooling, tokenOutput: 'hidden_fp16' });
    const out = await runPooled(model, referenceFeeds(), outputName);
    assert.equal(out.type, 'float32');
    const expected = reference[key] as number[][];
    rows(out).forEach((row, i) => assertClose(row, expected[i], 5e-3, 5e-3, `fp16 ${key}[${i}]`));
  }
});

/** A toy "model": token states are looked up from a table, so any pooling can be checked on the host. */
function lookupModel(opset: number, dim = 5, vocab = 11): { model: ModelProto; table: Float32Array } {
  const table = Float32Array.from({ length: vocab * dim }, (_, i) => Math.sin(i * 1.7) * 3);
  const graph = makeGraph({
    name: 'lookup',
    nodes: [makeNode('Gather', ['table', 'input_ids'], ['last_hidden_state'], [attrInt('axis', 0)])],
    inputs: [makeValueInfo('input_ids', DataType.INT64, ['batch', 'seq'])],
    outputs: [makeValueInfo('last_hidden_state', DataType.FLOAT, ['batch', 'seq', dim])],
    initializers: [floatTensor('table', table, [vocab, dim])],
  });
  return { model: makeModel(graph, { opsetVersion: opset }), table };
}

for (const opset of [11, 13, 17, 18]) {
  test(`opset ${opset}: a graph without attention_mask gets one, and every pooling ignores padding`, async () => {
    const dim = 5;
    const { model, table } = lookupModel(opset, dim);
    const lengths = Uint32Array.from([3, 1, 6, 4]);
    const ids = Uint32Array.from({ length: 14 }, (_, i) => 1 + ((i * 7) % 10));
    const padded = padBatch(ids, new Uint8Array(ids.length), lengths, 'int64');
    const shape = [lengths.length, padded.seqLen];
    // What the graph outputs before pooling, to pool on the host with the reference implementation.
    const hidden = new Float32Array(lengths.length * padded.seqLen * dim);
    (padded.ids as BigInt64Array).forEach((id, i) => hidden.set(table.subarray(Number(id) * dim, (Number(id) + 1) * dim), i * dim));
    for (const pooling of ['mean', 'cls', 'max', 'last_token'] as Pooling[]) {
      const rewritten = appendPooling(model, { pooling, tokenOutput: 'last_hidden_state' });
      assert.equal(rewritten.addedMaskInput, true);
      assert.ok(rewritten.model.graph!.input!.some((i) => i.name === 'attention_mask'));
      const feeds = { input_ids: new ort.Tensor('int64', padded.ids, shape), attention_mask: new ort.Tensor('int64', padded.mask, shape) };
      const out = await runPooled(rewritten.model, feeds, rewritten.outputName);
      const expected = poolTokens(pooling, hidden, lengths, padded.seqLen, dim);
      assertClose(out.data as Float32Array, expected, 1e-5, 1e-5, `${pooling} (opset ${opset})`);
    }
  });
}

test('the original model is left as it was', () => {
  const model = tinyBert();
  const before = { nodes: model.graph!.node!.length, outputs: model.graph!.output!.map((o) => o.name), inputs: model.graph!.input!.length };
  appendPooling(model, { pooling: 'max', tokenOutput: 'last_hidden_state', normalized: true });
  assert.equal(model.graph!.node!.length, before.nodes);
  assert.deepEqual(
    model.graph!.output!.map((o) => o.name),
    before.outputs,
  );
  assert.equal(model.graph!.input!.length, before.inputs);
});

test('graphs that cannot be rewritten are refused with the reason', () => {
  const tiny = tinyBert();
  assert.throws(
    () => appendPooling(tiny, { pooling: 'mean', tokenOutput: 'nope' }),
    (e: Error) => e instanceof AppendPoolingError && /no output 'nope'/.test(e.message),
  );
  assert.throws(
    () => appendPooling(tiny, { pooling: 'mean', tokenOutput: 'last_hidden_state', outputName: 'input_ids' }),
    /already has a value named 'input_ids'/,
  );
  assert.throws(() => appendPooling(lookupModel(10).model, { pooling: 'mean', tokenOutput: 'last_hidden_state' }), /opset 10 is older than 11/);
  const ints = lookupModel(17).model;
  ints.graph!.output = [makeValueInfo('last_hidden_state', DataType.INT64, ['batch', 'seq', 5])];
  assert.throws(() => appendPooling(ints, { pooling: 'mean', tokenOutput: 'last_hidden_state' }), /not float32 or float16/);
  const flat = lookupModel(17).model;
  flat.graph!.output = [makeValueInfo('last_hidden_state', DataType.FLOAT, ['batch', 5])];
  assert.throws(() => appendPooling(flat, { pooling: 'mean', tokenOutput: 'last_hidden_state' }), /rank 2/);
});
