/**
 * A mid-size BERT encoder with random weights, built here from plain ONNX ops (no torch): the
 * shape of all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, FFN 1536, 512 positions), with the
 * tiny-bert fixture's real BERT uncased tokenizer, laid out as a sentence-transformers folder
 * (mean pooling + normalize). The weights mean nothing; the compute per token is realistic,
 * which the 32-wide tiny fixture's is not. Built once into the OS temp folder (~90 MB), never
 * committed.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DataType,
  attrFloat,
  attrInt,
  attrInts,
  encodeModel,
  floatTensor,
  int64Tensor,
  makeGraph,
  makeModel,
  makeNode,
  makeValueInfo,
  type NodeProto,
  type TensorProto,
} from '../../src/onnx-graph/onnx-proto.js';
import { rng } from '../texts.js';

export interface BertShape {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  positions: number;
  vocab: number;
  maxSeqLength: number;
}

export const MINILM_L6_SHAPE: BertShape = { layers: 6, hidden: 384, heads: 12, intermediate: 1536, positions: 512, vocab: 30522, maxSeqLength: 256 };

const FORMAT = 1;
const TINY_BERT = fileURLToPath(new URL('../../../test/fixtures/tiny-bert/', import.meta.url));

/** Normal(0, std) samples, seeded (Box-Muller). */
function normal(count: number, std: number, r: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = std * Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** The BERT encoder graph: embeddings + LayerNorm, then `layers` post-LN transformer blocks. */
export function bertGraph(shape: BertShape, seed = 7): ReturnType<typeof makeModel> {
  const { layers, hidden: H, heads, intermediate: I, positions, vocab } = shape;
  const dh = H / heads;
  const r = rng(seed);
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const weight = (name: string, dims: number[]) => {
    inits.push(
      floatTensor(
        name,
        normal(
          dims.reduce((a, b) => a * b, 1),
          0.02,
          r,
        ),
        dims,
      ),
    );
    return name;
  };
  const filled = (name: string, n: number, value: number) => {
    inits.push(floatTensor(name, new Float32Array(n).fill(value), [n]));
    return name;
  };
  const node = (op: string, inputs: string[], output: string, attrs: Parameters<typeof makeNode>[3] = []) => {
    nodes.push(makeNode(op, inputs, [output], attrs));
    return output;
  };
  const layerNorm = (x: string, prefix: string) =>
    node('LayerNormalization', [x, filled(`${prefix}.w`, H, 1), filled(`${prefix}.b`, H, 0)], `${prefix}.out`, [
      attrInt('axis', -1),
      attrFloat('epsilon', 1e-12),
    ]);
  const dense = (x: string, prefix: string, inDim: number, outDim: number) =>
    node('Add', [node('MatMul', [x, weight(`${prefix}.W`, [inDim, outDim])], `${prefix}.mm`), filled(`${prefix}.bias`, outDim, 0)], `${prefix}.out`);

  inits.push(int64Tensor('c.one', [1], []), int64Tensor('c.zero', [0], []), int64Tensor('c.axes12', [1, 2]));
  inits.push(int64Tensor('c.headShape', [0, 0, heads, dh]), int64Tensor('c.hiddenShape', [0, 0, H]));
  inits.push(floatTensor('c.fone', [1], []), floatTensor('c.maskNeg', [-10000], []), floatTensor('c.scale', [1 / Math.sqrt(dh)], []));
  inits.push(floatTensor('c.half', [0.5], []), floatTensor('c.invSqrt2', [Math.SQRT1_2], []));

  // Embeddings: word + token type + position (0..S-1), then LayerNorm.
  const seq = node('Gather', [node('Shape', ['input_ids'], 'e.shape'), 'c.one'], 'e.seq', [attrInt('axis', 0)]);
  const pos = node('Range', ['c.zero', seq, 'c.one'], 'e.pos');
  const words = node('Gather', [weight('e.word', [vocab, H]), 'input_ids'], 'e.words');
  const types = node('Gather', [weight('e.type', [2, H]), 'token_type_ids'], 'e.types');
  const places = node('Gather', [weight('e.position', [positions, H]), pos], 'e.places');
  let x = layerNorm(node('Add', [node('Add', [words, types], 'e.sum1'), places], 'e.sum2'), 'e.ln');

  // Additive mask [B, 1, 1, S]: 0 where attended, -10000 on padding.
  const maskF = node('Cast', ['attention_mask'], 'm.float', [attrInt('to', DataType.FLOAT)]);
  const maskBias = node('Unsqueeze', [node('Mul', [node('Sub', ['c.fone', maskF], 'm.inv'), 'c.maskNeg'], 'm.neg'), 'c.axes12'], 'm.bias');

  for (let l = 0; l < layers; l++) {
    const p = `l${l}`;
    const split = (t: string, name: string, perm: number[]) =>
      node('Transpose', [node('Reshape', [t, 'c.headShape'], `${name}.r`)], `${name}.t`, [attrInts('perm', perm)]);
    const q = split(dense(x, `${p}.q`, H, H), `${p}.qh`, [0, 2, 1, 3]);
    const k = split(dense(x, `${p}.k`, H, H), `${p}.kh`, [0, 2, 3, 1]);
    const v = split(dense(x, `${p}.v`, H, H), `${p}.vh`, [0, 2, 1, 3]);
    const scores = node('Add', [node('Mul', [node('MatMul', [q, k], `${p}.qk`), 'c.scale'], `${p}.scaled`), maskBias], `${p}.masked`);
    const probs = node('Softmax', [scores], `${p}.probs`, [attrInt('axis', -1)]);
    const ctx = node('Transpose', [node('MatMul', [probs, v], `${p}.ctx`)], `${p}.ctxT`, [attrInts('perm', [0, 2, 1, 3])]);
    const merged = node('Reshape', [ctx, 'c.hiddenShape'], `${p}.merged`);
    const x1 = layerNorm(node('Add', [dense(merged, `${p}.o`, H, H), x], `${p}.res1`), `${p}.ln1`);
    const up = dense(x1, `${p}.up`, H, I);
    // GELU, the erf form BERT uses: x * 0.5 * (1 + erf(x / sqrt 2)).
    const erf = node('Erf', [node('Mul', [up, 'c.invSqrt2'], `${p}.g0`)], `${p}.g1`);
    const gelu = node('Mul', [node('Mul', [up, 'c.half'], `${p}.g2`), node('Add', [erf, 'c.fone'], `${p}.g3`)], `${p}.gelu`);
    x = layerNorm(node('Add', [dense(gelu, `${p}.down`, I, H), x1], `${p}.res2`), `${p}.ln2`);
  }
  nodes.push(makeNode('Identity', [x], ['last_hidden_state']));

  const ids = (name: string) => makeValueInfo(name, DataType.INT64, ['batch', 'seq']);
  const graph = makeGraph({
    name: 'mid-bert',
    nodes,
    inputs: [ids('input_ids'), ids('attention_mask'), ids('token_type_ids')],
    outputs: [makeValueInfo('last_hidden_state', DataType.FLOAT, ['batch', 'seq', H])],
    initializers: inits,
  });
  return makeModel(graph, { producerName: 'coalesce-bench' });
}

/** Builds the folder once (atomically) and returns its path. */
export function ensureMidBert(shape: BertShape = MINILM_L6_SHAPE, root = join(tmpdir(), 'coalesce-bench')): string {
  const name = `mid-bert-L${shape.layers}-H${shape.hidden}-v${FORMAT}`;
  const dir = join(root, name);
  if (existsSync(join(dir, 'model.onnx'))) return dir;
  const staging = `${dir}.staging-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, '1_Pooling'), { recursive: true });
  mkdirSync(join(staging, '2_Normalize'));
  writeFileSync(join(staging, 'model.onnx'), encodeModel(bertGraph(shape)));
  copyFileSync(join(TINY_BERT, 'tokenizer.json'), join(staging, 'tokenizer.json'));
  const tokConfig = JSON.parse(readFileSync(join(TINY_BERT, 'tokenizer_config.json'), 'utf8'));
  const json = (file: string, value: unknown) => writeFileSync(join(staging, file), JSON.stringify(value, null, 2));
  json('tokenizer_config.json', { ...tokConfig, model_max_length: shape.maxSeqLength });
  json('config.json', {
    architectures: ['BertModel'],
    model_type: 'bert',
    hidden_size: shape.hidden,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    intermediate_size: shape.intermediate,
    max_position_embeddings: shape.positions,
    vocab_size: shape.vocab,
    type_vocab_size: 2,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-12,
    pad_token_id: 0,
    note: 'random weights, built by bench/models/mid-bert.ts for benchmarks only',
  });
  json('sentence_bert_config.json', { max_seq_length: shape.maxSeqLength, do_lower_case: false });
  json('modules.json', JSON.parse(readFileSync(join(TINY_BERT, 'modules.json'), 'utf8')));
  json('1_Pooling/config.json', { embedding_dimension: shape.hidden, pooling_mode: 'mean', include_prompt: true });
  json('2_Normalize/config.json', {});
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  return dir;
}
