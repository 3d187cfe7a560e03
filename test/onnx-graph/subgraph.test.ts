/** Graph surgery for two-tower models, run through ONNX Runtime on tiny graphs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { DataType, encodeModel, floatTensor, makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/onnx-graph/onnx-proto.js';
import { extractSubgraph, graphInputNames, padTextInputs } from '../../src/onnx-graph/subgraph.js';
import { measureLogits } from '../../src/model-prep/vision-language.js';

const ids = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

test('padTextInputs re-pads right-padded batches to a fixed length with the pad id (SigLIP)', async () => {
  // The "model": its input_ids as floats, so the test sees what it was fed.
  const graph = makeGraph({
    name: 'echo',
    nodes: [makeNode('Cast', ['input_ids'], ['pooler_output'], [{ name: 'to', type: 2, i: DataType.FLOAT }])],
    inputs: [makeValueInfo('input_ids', DataType.INT64, ['b', 's'])],
    outputs: [makeValueInfo('pooler_output', DataType.FLOAT, ['b', 's'])],
  });
  const padded = padTextInputs(makeModel(graph), { length: 5, padId: 7 });
  assert.deepEqual(graphInputNames(padded), ['input_ids', 'attention_mask']);
  const s = await ort.InferenceSession.create(encodeModel(padded));
  const r = await s.run({
    input_ids: ids([
      [1, 2, 0],
      [3, 0, 0],
    ]),
    attention_mask: ids([
      [1, 1, 0],
      [1, 0, 0],
    ]),
  });
  assert.deepEqual([...(r.pooler_output.data as Float32Array)], [1, 2, 7, 7, 7, 3, 7, 7, 7, 7]);
  assert.deepEqual(r.pooler_output.dims, [2, 5]);
});

test('extractSubgraph keeps one tower of a combined graph, renames its output, and measures logits', async () => {
  // text_embeds = t * 1, image_embeds = p * 1, logits_per_image = 3 * (image . text^T) + 0.5
  const graph = makeGraph({
    name: 'two-towers',
    nodes: [
      makeNode('Identity', ['t'], ['text_embeds']),
      makeNode('Identity', ['p'], ['image_embeds']),
      makeNode('Transpose', ['text_embeds'], ['tt']),
      makeNode('MatMul', ['image_embeds', 'tt'], ['dots']),
      makeNode('Mul', ['dots', 'scale'], ['scaled']),
      makeNode('Add', ['scaled', 'bias'], ['logits_per_image']),
    ],
    inputs: [makeValueInfo('t', DataType.FLOAT, ['n', 2]), makeValueInfo('p', DataType.FLOAT, ['m', 2])],
    outputs: [
      makeValueInfo('text_embeds', DataType.FLOAT, ['n', 2]),
      makeValueInfo('image_embeds', DataType.FLOAT, ['m', 2]),
      makeValueInfo('logits_per_image', DataType.FLOAT, ['m', 'n']),
    ],
    initializers: [floatTensor('scale', [3], []), floatTensor('bias', [0.5], [])],
  });
  const model = makeModel(graph);
  const text = extractSubgraph(model, ['text_embeds'], { rename: { text_embeds: 'embeds' } });
  assert.deepEqual(graphInputNames(text), ['t']);
  assert.deepEqual(text.graph!.initializer, []);
  const s = await ort.InferenceSession.create(encodeModel(text));
  const r = await s.run({ t: new ort.Tensor('float32', Float32Array.from([1, 2]), [1, 2]) });
  assert.deepEqual([...(r.embeds.data as Float32Array)], [1, 2]);
  assert.deepEqual(await measureLogits(model), { scale: 3, bias: 0.5 });
  assert.throws(() => extractSubgraph(model, ['nope']), /no output 'nope'/);
});
