import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataType, decodeModel, encodeModel, makeNode, makeValueInfo } from '../../src/onnx-graph/onnx-proto.js';
import { prepareServingGraph, removesPadding } from '../../src/onnx-graph/serving-graph.js';
import { TINY_BERT } from '../helpers/server.js';

const tinyBert = () => decodeModel(readFileSync(`${TINY_BERT}/model.onnx`));

/**
 * What ONNX Runtime's packing mode adds in front of the first layer: a RemovePadding node fed by
 * the embeddings and the per-row token counts. Only its presence matters to the server.
 */
function withRemovePadding(domain: string) {
  const model = tinyBert();
  const graph = model.graph!;
  graph.node!.push(
    makeNode('ReduceSum', ['attention_mask'], ['token_count'], [], { name: 'count' }),
    makeNode('RemovePadding', ['some_hidden_state', 'token_count'], ['packed', 'token_offset', 'cumulated_seq_len', 'max_seq_len'], [], { domain }),
  );
  graph.value_info!.push(makeValueInfo('packed', DataType.FLOAT));
  return model;
}

test('a graph with ONNX Runtime RemovePadding is recognised as removing padding; others are not', () => {
  assert.equal(removesPadding(tinyBert()), false);
  assert.equal(removesPadding(withRemovePadding('com.microsoft')), true);
  // Same op name in another domain is not ONNX Runtime's contrib op.
  assert.equal(removesPadding(withRemovePadding('example.other')), false);
});

test('prepareServingGraph reports packing mode and still appends pooling', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-serving-graph-'));
  const packed = join(dir, 'packed.onnx');
  writeFileSync(packed, encodeModel(withRemovePadding('com.microsoft')));
  const graph = prepareServingGraph(packed, { pooling: 'mean', poolInGraph: true });
  assert.equal(graph.removesPadding, true);
  assert.equal(graph.pooledInGraph, true);
  assert.equal(graph.outputKind, 'pooled');

  const plain = prepareServingGraph(`${TINY_BERT}/model.onnx`, { pooling: 'mean', poolInGraph: true });
  assert.equal(plain.removesPadding, false);
  const hostPooled = prepareServingGraph(packed, { pooling: 'mean', poolInGraph: false });
  assert.equal(hostPooled.removesPadding, true, 'the flag does not depend on where pooling runs');
});
