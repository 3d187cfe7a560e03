/**
 * What the load-time fusions (fuse-attention, fuse-skip-layer-norm, fuse-gelu) need to know about
 * a graph: who produces and who reads each tensor, which tensors are constants, and how to put
 * fused nodes in the place of the ones they replace.
 */
import { halfToFloat } from './float16.js';
import { pruneUnread } from './subgraph.js';
import {
  DataType,
  graphConstants,
  int64ToNumber,
  opsetVersion,
  tensorData,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-proto.js';

export interface GraphIndex {
  producer: Map<string, NodeProto>;
  readers: Map<string, NodeProto[]>;
  /** Each node's place in the graph's (topological) node list. */
  position: Map<NodeProto, number>;
  constants: Map<string, TensorProto>;
  /** The graph's output names: never fused away. */
  outputs: Set<string>;
}

function indexGraph(graph: GraphProto): GraphIndex {
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
  // Shapes and scalars only: decide from the dims before decoding (raw data may be copied).
  if (!t || (t.dims ?? []).reduce((n: number, d) => n * int64ToNumber(d), 1) > 16) return null;
  let data: ReturnType<typeof tensorData>;
  try {
    data = tensorData(t);
  } catch {
    return null;
  }
  const half = t.data_type === DataType.FLOAT16;
  return Array.from(data as ArrayLike<number | bigint>, (v) => (half ? halfToFloat(Number(v)) : Number(v)));
}

export function constantScalar(index: GraphIndex, name: string): number | null {
  const v = constantValues(index, name);
  return v && v.length === 1 ? v[0] : null;
}

/** For a binary op node with a constant scalar operand: [its value, the other input] (the second operand checked first). */
export function scalarOperand(index: GraphIndex, n: NodeProto): [number, string] | null {
  const [a, b] = n.input ?? [];
  const cb = constantScalar(index, b);
  if (cb !== null) return [cb, a];
  const ca = constantScalar(index, a);
  return ca !== null ? [ca, b] : null;
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
  for (const [input, bias] of [
    [a, b],
    [b, a],
  ]) {
    if (index.constants.get(bias)?.dims?.length === 1 && index.producer.get(input)?.op_type === 'MatMul') return { add, input, bias };
  }
  return null;
}

/** Whether the outputs of `nodes` (but `out`) are read only by `nodes`: they disappear when the nodes are fused. */
export function readOnlyInside(index: GraphIndex, nodes: readonly NodeProto[], out: string): boolean {
  const inside = new Set(nodes);
  return nodes.every((n) => (n.output ?? []).every((o) => o === out || (!index.outputs.has(o) && (index.readers.get(o) ?? []).every((r) => inside.has(r)))));
}

/** One fusion a matcher found: `node` takes the place of `at` (the last of `removed` to run). */
export interface Fusion {
  removed: NodeProto[];
  at: NodeProto;
  node: NodeProto;
  /** New constants the fused node reads. */
  initializers?: TensorProto[];
}

/**
 * Tries `match` on every anchor node (in graph order), keeps the fusions that do not overlap an
 * earlier one, and rewrites the model: removed nodes go (with whatever only fed them, such as a
 * reshape's shape arithmetic), each fused node sits where everything it reads is computed, and
 * com.microsoft is imported. `fused` 0 means the model came back unchanged.
 */
export function fuseEach(
  model: ModelProto,
  isAnchor: (n: NodeProto) => boolean,
  match: (index: GraphIndex, anchor: NodeProto) => Fusion | null,
): { model: ModelProto; fused: number } {
  const graph = model.graph ?? {};
  const index = indexGraph(graph);
  const removed = new Set<NodeProto>();
  const replacement = new Map<NodeProto, NodeProto>();
  const initializers: TensorProto[] = [];
  for (const anchor of (graph.node ?? []).filter(isAnchor)) {
    const f = match(index, anchor);
    if (!f || f.removed.some((n) => removed.has(n))) continue;
    for (const n of f.removed) removed.add(n);
    replacement.set(f.at, f.node);
    initializers.push(...(f.initializers ?? []));
  }
  if (replacement.size === 0) return { model, fused: 0 };
  const node = (graph.node ?? []).flatMap((n) => (replacement.has(n) ? [replacement.get(n)!] : removed.has(n) ? [] : [n]));
  const opsets = model.opset_import ?? [];
  const opset_import = opsetVersion(model, 'com.microsoft') === undefined ? [...opsets, { domain: 'com.microsoft', version: 1 }] : opsets;
  const rewritten = { ...model, opset_import, graph: { ...graph, node, initializer: [...(graph.initializer ?? []), ...initializers] } };
  return { model: pruneUnread(rewritten), fused: replacement.size };
}
