/**
 * Heads appended to a graph for the model kinds that are not dense embeddings, so what leaves the
 * session is what the request needs and no more:
 * - SPLADE: log(1 + ReLU(logits)), masked, max over tokens, then only the non-zero (row, term)
 *   pairs and their values ([N, 2] and [N]) instead of [B, vocabulary] floats.
 * - ColBERT-style multi-vector: the linear projection after the encoder (sentence-transformers /
 *   PyLate `Dense`) and an L2 normalization per token.
 * Computed in float32 whatever the model's precision, like the pooling (append-pooling.ts).
 */
import { AppendPoolingError } from './append-pooling.js';
import { GraphBuilder, graphValueNames } from './graph-builder.js';
import {
  attrInt,
  attrInts,
  DataType,
  floatTensor,
  makeValueInfo,
  opsetVersion,
  valueInfoElemType,
  valueInfoShape,
  type Dim,
  type ModelProto,
  type ValueInfoProto,
} from './onnx-proto.js';

export const SPARSE_INDICES_OUTPUT = 'coalesce_sparse_indices';
export const SPARSE_VALUES_OUTPUT = 'coalesce_sparse_values';
export const TOKEN_VECTORS_OUTPUT = 'coalesce_token_vectors';
const PREFIX = 'coalesce_head/';
/** NonZero, GatherND. */
const MIN_OPSET = 13;
/** Below this, log(1 + x) in float32 loses x (1 + 1e-8 == 1); x - x^2 / 2 is exact there to float precision. */
const LOG1P_SERIES_BELOW = 1e-4;

interface Checked {
  opset: number;
  elemType: number;
  shape: Dim[] | undefined;
}

function check(model: ModelProto, tokenOutput: string, newNames: readonly string[]): Checked {
  const graph = model.graph;
  if (!graph) throw new AppendPoolingError('the model has no graph');
  const opset = opsetVersion(model, '');
  if (opset === undefined || opset < MIN_OPSET) throw new AppendPoolingError(`opset ${opset ?? 'none'} is older than ${MIN_OPSET}`);
  const token = (graph.output ?? []).find((o) => o.name === tokenOutput);
  if (!token) throw new AppendPoolingError(`the graph has no output '${tokenOutput}'`);
  const elemType = valueInfoElemType(token) ?? DataType.FLOAT;
  if (elemType !== DataType.FLOAT && elemType !== DataType.FLOAT16) {
    throw new AppendPoolingError(`output '${tokenOutput}' is of type ${elemType}, not float32 or float16`);
  }
  const shape = valueInfoShape(token);
  if (shape && shape.length !== 3) throw new AppendPoolingError(`output '${tokenOutput}' has rank ${shape.length}, not [batch, seq, width]`);
  if (!(graph.input ?? []).some((i) => i.name === 'attention_mask')) throw new AppendPoolingError('the graph takes no attention_mask');
  for (const name of graphValueNames(graph)) {
    if (name.startsWith(PREFIX) || newNames.includes(name)) throw new AppendPoolingError(`the graph already has a value named '${name}'`);
  }
  return { opset, elemType, shape };
}

function withHead(model: ModelProto, b: GraphBuilder, outputs: ValueInfoProto[]): ModelProto {
  const graph = model.graph!;
  return {
    ...model,
    graph: {
      ...graph,
      node: [...(graph.node ?? []), ...b.nodes],
      initializer: [...(graph.initializer ?? []), ...b.initializers],
      output: outputs,
    },
  };
}

/** [B, S, 1] float32 mask from the graph's attention_mask input. */
function tokenMask(b: GraphBuilder): string {
  return b.unsqueeze(b.op('Cast', ['attention_mask'], [attrInt('to', DataType.FLOAT)]), [2]);
}

/**
 * SPLADE over an MLM graph's logits [B, S, V] (sentence-transformers' SpladePooling, max):
 * max over real tokens of log(1 + ReLU(logit)). Outputs the non-zeros only: SPARSE_INDICES_OUTPUT
 * [N, 2] int64 (row, term) in row-major order and SPARSE_VALUES_OUTPUT [N] float32.
 */
export function appendSplade(model: ModelProto, logitsOutput: string): ModelProto {
  const { opset, elemType } = check(model, logitsOutput, [SPARSE_INDICES_OUTPUT, SPARSE_VALUES_OUTPUT]);
  const b = new GraphBuilder(opset, PREFIX);
  const logits = elemType === DataType.FLOAT16 ? b.op('Cast', [logitsOutput], [attrInt('to', DataType.FLOAT)]) : logitsOutput;
  const x = b.op('Relu', [logits]);
  const log = b.op('Log', [b.op('Add', [x, b.const(floatTensor('', [1], []))])]);
  const series = b.op('Sub', [x, b.op('Mul', [b.op('Mul', [x, x]), b.const(floatTensor('', [0.5], []))])]);
  const log1p = b.op('Where', [b.op('Less', [x, b.const(floatTensor('', [LOG1P_SERIES_BELOW], []))]), series, log]);
  // Padding rows multiply to 0, which never wins a max over values >= 0.
  const pooled = b.reduce('ReduceMax', b.op('Mul', [log1p, tokenMask(b)]), [1], false); // [B, V]
  const at = b.op('Transpose', [b.op('NonZero', [pooled])], [attrInts('perm', [1, 0])]); // [N, 2]
  b.output('Identity', [at], SPARSE_INDICES_OUTPUT);
  b.output('GatherND', [pooled, at], SPARSE_VALUES_OUTPUT);
  return withHead(model, b, [
    makeValueInfo(SPARSE_INDICES_OUTPUT, DataType.INT64, ['nonzero', 2]),
    makeValueInfo(SPARSE_VALUES_OUTPUT, DataType.FLOAT, ['nonzero']),
  ]);
}

export interface Projection {
  /** [out, in], row-major, as torch.nn.Linear keeps it. */
  weight: Float32Array;
  bias: Float32Array | null;
  inFeatures: number;
  outFeatures: number;
  activation: 'identity' | 'tanh';
}

/** Token states [B, S, H] -> projected [B, S, D], each token's vector L2-normalized: TOKEN_VECTORS_OUTPUT. */
export function appendTokenProjection(model: ModelProto, tokenOutput: string, p: Projection): ModelProto {
  const { opset, elemType, shape } = check(model, tokenOutput, [TOKEN_VECTORS_OUTPUT]);
  const width = shape?.[2];
  if (typeof width === 'number' && width !== p.inFeatures) {
    throw new AppendPoolingError(`output '${tokenOutput}' is ${width} wide but the projection takes ${p.inFeatures}`);
  }
  const b = new GraphBuilder(opset, PREFIX);
  const h = elemType === DataType.FLOAT16 ? b.op('Cast', [tokenOutput], [attrInt('to', DataType.FLOAT)]) : tokenOutput;
  const transposed = new Float32Array(p.inFeatures * p.outFeatures);
  for (let o = 0; o < p.outFeatures; o++) for (let i = 0; i < p.inFeatures; i++) transposed[i * p.outFeatures + o] = p.weight[o * p.inFeatures + i];
  let y = b.op('MatMul', [h, b.const(floatTensor('', transposed, [p.inFeatures, p.outFeatures]))]);
  if (p.bias) y = b.op('Add', [y, b.const(floatTensor('', p.bias, [p.outFeatures]))]);
  if (p.activation === 'tanh') y = b.op('Tanh', [y]);
  // torch.nn.functional.normalize's floor: an all-zero vector stays zero instead of NaN.
  const norm = b.op('Max', [b.reduce('ReduceL2', y, [2], true), b.const(floatTensor('', [1e-12], []))]);
  b.output('Div', [y, norm], TOKEN_VECTORS_OUTPUT);
  return withHead(model, b, [makeValueInfo(TOKEN_VECTORS_OUTPUT, DataType.FLOAT, [shape?.[0] ?? 'batch', shape?.[1] ?? 'sequence', p.outFeatures])]);
}
