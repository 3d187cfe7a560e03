/**
 * What the load-time fusions (fuse-attention, fuse-skip-layer-norm, fuse-gelu) need to know about
 * a graph: who produces and who reads each tensor, which tensors are constants, and how to put
 * fused nodes in the place of the ones they replace.
 */
import { halfToFloat } from '../ort/tensors.js';
import { DataType, graphConstants, tensorData, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from './onnx-proto.js';

export interface GraphIndex {
  producer: Map<string, NodeProto>;
  readers: Map<string, NodeProto[]>;
  /** Each node's place in the graph's (topological) node list. */
  position: Map<NodeProto, number>;
  constants: Map<string, TensorProto>;
  /** The graph's output names: never fused away. */
  outputs: Set<string>;
}

export function indexGraph(graph: GraphProto): GraphIndex {
  const producer = new Map<string, NodeProto>();
  const readers = new Map<string, NodeProto[]>();
  const position = new Map<NodeProto, number>();
  for (const [at, n] of (graph.node ?? []).entries()) {
    position.set(n, at);
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) {
      if (!i) continue;
      const list = readers.get(i);
      if (list) list.push(n);
      else readers.set(i, [n]);
    }
  }
  return { producer, readers, position, constants: graphConstants(graph), outputs: new Set((graph.output ?? []).map((o) => o.name ?? '')) };
}

/** An op of the default ONNX domain. */
export const isOp = (n: NodeProto | undefined, op: string): n is NodeProto => n?.op_type === op && (n.domain ?? '') === '';

/** All elements of a small constant (shapes, scalars) as numbers; null when not a constant. */
export function constantValues(index: GraphIndex, name: string): number[] | null {
  const t = index.constants.get(name);
  if (!t) return null;
  let data;
  try {
    data = tensorData(t);
  } catch {
    return null;
  }
  if (data.length > 16) return null;
  const half = t.data_type === DataType.FLOAT16;
  return Array.from(data as ArrayLike<number | bigint>, (v) => (half ? halfToFloat(Number(v)) : Number(v)));
}

export function constantScalar(index: GraphIndex, name: string): number | null {
  const v = constantValues(index, name);
  return v && v.length === 1 ? v[0] : null;
}

export interface ProjectionBias {
  /** The Add that goes away. */
  add: NodeProto;
  /** The MatMul output the bias was added to. */
  input: string;
  bias: string;
}

/**
 * `name` = Add(MatMul(..), 1-D constant), read only by `readers` and not a graph output: a fused
 * node that takes a bias input (MultiHeadAttention, SkipLayerNormalization, FastGelu) can add it.
 */
export function projectionBias(index: GraphIndex, name: string, readers: ReadonlySet<NodeProto>): ProjectionBias | null {
  const add = index.producer.get(name);
  if (!isOp(add, 'Add') || index.outputs.has(name) || (index.readers.get(name) ?? []).some((r) => !readers.has(r))) return null;
  const [a, b] = add.input ?? [];
  for (const [input, bias] of [[a, b], [b, a]]) {
    if (index.constants.get(bias)?.dims?.length === 1 && index.producer.get(input)?.op_type === 'MatMul') return { add, input, bias };
  }
  return null;
}

/**
 * The model with `removed` nodes gone and each key of `replacement` swapped for its fused node
 * (which therefore sits where everything it reads is computed), importing com.microsoft.
 */
export function rewriteNodes(model: ModelProto, removed: ReadonlySet<NodeProto>, replacement: ReadonlyMap<NodeProto, NodeProto>, initializers: TensorProto[] = []): ModelProto {
  const graph = model.graph ?? {};
  const node = (graph.node ?? []).flatMap((n) => (replacement.has(n) ? [replacement.get(n)!] : removed.has(n) ? [] : [n]));
  const opsets = model.opset_import ?? [];
  const opset_import = opsets.some((o) => o.domain === 'com.microsoft') ? opsets : [...opsets, { domain: 'com.microsoft', version: 1 }];
  return { ...model, opset_import, graph: { ...graph, node, initializer: [...(graph.initializer ?? []), ...initializers] } };
}
