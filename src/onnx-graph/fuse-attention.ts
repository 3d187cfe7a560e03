/**
 * Rewrites self-attention as torch.onnx exports it, unfused, into ONNX Runtime's
 * com.microsoft.MultiHeadAttention, which the CUDA provider runs with flash / memory-efficient
 * kernels. ORT's transformer optimizer fuses BERT's attention but none of SigLIP's vision tower
 * (tried with model types clip, vit and bert); fused, that tower's GPU time drops 12-18 % on an
 * H200.
 *
 * The pattern, per head-split projection (legacy exporter, SDPA or eager attention):
 *
 *   q_in -> Reshape [B,S,H,D] -> Transpose(0,2,1,3) ─┐
 *   k_in -> Reshape [B,S,H,D] -> Transpose(0,2,3,1) ─┴ MatMul -> Softmax(-1) ─┐
 *   v_in -> Reshape [B,S,H,D] -> Transpose(0,2,1,3) ──────────────────────────┴ MatMul
 *        -> Transpose(0,2,1,3) -> Reshape [B,S,H*D] = out
 *
 * with constant scalar Mul / Div anywhere on the q, k and score paths (their product is the
 * softmax scale). When q_in, k_in and v_in are each MatMul + a constant bias read only here, the
 * three biases go into MultiHeadAttention's bias input: one kernel adds them instead of three.
 * Attention with a mask or bias added to the scores (CLIP's causal text tower), or with any
 * intermediate read elsewhere, is left as it is.
 */
import {
  attrFloat,
  attribute,
  attributeInts,
  attrInt,
  bytesOf,
  DataType,
  int64ToNumber,
  makeNode,
  makeTensor,
  tensorData,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-proto.js';
import { constantScalar, constantValues, fuseEach, isOp, projectionBias, readOnlyInside, scalarOperand, type Fusion, type GraphIndex } from './graph-index.js';

const perm = (node: NodeProto) => attributeInts(node, 'perm');

const samePerm = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Walks a chain of nodes upwards, collecting them, with constant scalar Mul / Div skipped and folded into `scale`. */
class Walk {
  readonly nodes: NodeProto[] = [];
  scale = 1;
  constructor(private readonly index: GraphIndex) {}

  /** The producer of `name` after skipping scalings, if it is an `opType` node. */
  up(name: string, opType: string): NodeProto | null {
    let at = name;
    for (;;) {
      const p = this.index.producer.get(at);
      if (!p) return null;
      const [a, b] = p.input ?? [];
      const scaling = p.op_type === 'Mul' ? scalarOperand(this.index, p) : null;
      if (scaling) {
        this.scale *= scaling[0];
        this.nodes.push(p);
        at = scaling[1];
        continue;
      }
      if (p.op_type === 'Div') {
        const cb = constantScalar(this.index, b);
        if (cb !== null && cb !== 0) {
          this.scale /= cb;
          this.nodes.push(p);
          at = a;
          continue;
        }
      }
      if (p.op_type !== opType) return null;
      this.nodes.push(p);
      return p;
    }
  }
}

/** The last dimension of a projection's output, from its bias (Add) or weight (MatMul) initializer. */
function widthOf(index: GraphIndex, name: string): number | null {
  const p = index.producer.get(name);
  if (!p) return null;
  const dims = (n: string) => index.constants.get(n)?.dims?.map(int64ToNumber);
  if (p.op_type === 'Add') {
    for (const n of p.input ?? []) {
      const d = dims(n);
      if (d?.length === 1) return d[0];
    }
  }
  if (p.op_type === 'MatMul') {
    const d = dims(p.input?.[1] ?? '');
    if (d?.length === 2) return d[1];
  }
  return null;
}

/**
 * A Reshape's target shape, one entry per dimension: its value where the graph says it (a
 * constant shape, or a Concat of one-element constants), else undefined; null when even the
 * rank is unknown.
 */
function reshapeTarget(index: GraphIndex, reshape: NodeProto): (number | undefined)[] | null {
  const shapeName = reshape.input?.[1] ?? '';
  const shape = constantValues(index, shapeName);
  if (shape) return shape;
  const concat = index.producer.get(shapeName);
  if (concat?.op_type !== 'Concat') return null;
  return (concat.input ?? []).map((i) => {
    const v = constantValues(index, i);
    return v?.length === 1 ? v[0] : undefined;
  });
}

/** Heads of a split Reshape(in, [B, S, H, D]): H when the target says it, else width / D (transformers 5 writes H as -1), else null. */
function headsOfSplit(index: GraphIndex, reshape: NodeProto): number | null {
  const target = reshapeTarget(index, reshape);
  if (target?.length !== 4) return null;
  const [, , h, d] = target;
  if (h !== undefined && h > 0) return h;
  const width = widthOf(index, reshape.input?.[0] ?? '');
  return d !== undefined && d > 0 && width !== null && width % d === 0 ? width / d : null;
}

/** Whether a Reshape's target shape has rank 3 (merging heads back), as far as the graph says. */
const mergesHeads = (index: GraphIndex, reshape: NodeProto) => reshapeTarget(index, reshape)?.length === 3;

interface Match {
  q: string;
  k: string;
  v: string;
  /** The q, k and v projections' biases (each Add(MatMul, bias) read only here), in MultiHeadAttention's packed bias input. */
  bias: TensorProto[] | null;
  out: string;
  heads: number;
  scale: number;
  nodes: NodeProto[];
  /** The node whose place the fused one takes (the last of the pattern). */
  last: NodeProto;
}

/** A head split: in -> Reshape -> Transpose(0,2,1,3) (and for keys, then (0,1,3,2), or (0,2,3,1) at once). */
function split(walk: Walk, index: GraphIndex, name: string, key: boolean): { input: string; heads: number | null } | null {
  let t = walk.up(name, 'Transpose');
  if (!t) return null;
  if (key && samePerm(perm(t), [0, 1, 3, 2])) {
    t = walk.up(t.input?.[0] ?? '', 'Transpose');
    if (!t || !samePerm(perm(t), [0, 2, 1, 3])) return null;
  } else if (!samePerm(perm(t), key ? [0, 2, 3, 1] : [0, 2, 1, 3])) {
    return null;
  }
  const r = walk.up(t.input?.[0] ?? '', 'Reshape');
  if (!r) return null;
  return { input: r.input?.[0] ?? '', heads: headsOfSplit(index, r) };
}

function match(index: GraphIndex, softmax: NodeProto, defaultHeads: number | null, takeBias: boolean): Match | null {
  const axis = attribute(softmax, 'axis');
  if (axis && int64ToNumber(axis.i) !== -1 && int64ToNumber(axis.i) !== 3) return null;
  const walk = new Walk(index);
  const scores = walk.up(softmax.input?.[0] ?? '', 'MatMul');
  if (!scores) return null;
  const q = split(walk, index, scores.input?.[0] ?? '', false);
  const k = split(walk, index, scores.input?.[1] ?? '', true);
  if (!q || !k) return null;
  const [context] = index.readers.get(softmax.output?.[0] ?? '') ?? [];
  if (context?.op_type !== 'MatMul' || context.input?.[0] !== softmax.output?.[0]) return null;
  const v = split(walk, index, context.input?.[1] ?? '', false);
  if (!v) return null;
  const [merge] = index.readers.get(context.output?.[0] ?? '') ?? [];
  if (merge?.op_type !== 'Transpose' || !samePerm(perm(merge), [0, 2, 1, 3])) return null;
  const [reshape] = index.readers.get(merge.output?.[0] ?? '') ?? [];
  if (reshape?.op_type !== 'Reshape' || reshape.input?.[0] !== merge.output?.[0] || !mergesHeads(index, reshape)) return null;

  const nodes = [...walk.nodes, softmax, context, merge, reshape];
  const inside = new Set(nodes);
  const out = reshape.output?.[0] ?? '';
  // Every intermediate must be read only inside the pattern: it disappears with the rewrite.
  if (!readOnlyInside(index, nodes, out)) return null;
  const heads = [q.heads, k.heads, v.heads].find((h) => h !== null) ?? defaultHeads;
  if (!heads || [q.heads, k.heads, v.heads].some((h) => h !== null && h !== heads)) return null;
  const biased = [q.input, k.input, v.input].map((name) => (takeBias ? projectionBias(index, name, inside) : null));
  const tensors = biased.map((b) => (b ? index.constants.get(b.bias)! : null));
  if (biased.every((b) => b !== null) && tensors.every((t) => t!.data_type === tensors[0]!.data_type)) {
    const [bq, bk, bv] = biased;
    return {
      q: bq!.input,
      k: bk!.input,
      v: bv!.input,
      bias: tensors as TensorProto[],
      out,
      heads,
      scale: walk.scale,
      nodes: [...nodes, bq!.add, bk!.add, bv!.add],
      last: reshape,
    };
  }
  return { q: q.input, k: k.input, v: v.input, bias: null, out, heads, scale: walk.scale, nodes, last: reshape };
}

/** One 1-D tensor holding the given ones end to end (same data type). */
function concatTensors(name: string, parts: TensorProto[]): TensorProto {
  const arrays = parts.map((t) => bytesOf(tensorData(t)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  arrays.reduce((at, a) => (out.set(a, at), at + a.length), 0);
  const elements = parts.reduce((n, t) => n + int64ToNumber(t.dims![0]), 0);
  return makeTensor(name, parts[0].data_type ?? DataType.FLOAT, [elements], out);
}

export interface FusedAttention {
  model: ModelProto;
  /** How many attention blocks became MultiHeadAttention nodes. */
  fused: number;
}

/**
 * The model with every matching attention block fused (see above); `fused` 0 means unchanged.
 * `numHeads` is used only where the graph's reshapes do not say it. `projectionBias: false`
 * leaves the q/k/v bias Adds in place (the benchmark measures what moving them buys).
 */
export function fuseAttention(model: ModelProto, numHeads: number | null = null, options: { projectionBias?: boolean } = {}): FusedAttention {
  // The fused node sits where the pattern's last node was: everything it reads comes before.
  const fusion = (index: GraphIndex, softmax: NodeProto): Fusion | null => {
    const m = match(index, softmax, numHeads, options.projectionBias ?? true);
    if (!m) return null;
    const name = `coalesce_mha/${m.out}`;
    const bias = m.bias && concatTensors(`${name}_qkv_bias`, m.bias);
    const inputs = bias ? [m.q, m.k, m.v, bias.name!] : [m.q, m.k, m.v];
    const node = makeNode('MultiHeadAttention', inputs, [m.out], [attrInt('num_heads', m.heads), attrFloat('scale', m.scale)], {
      name,
      domain: 'com.microsoft',
    });
    return { removed: m.nodes, at: m.last, node, initializers: bias ? [bias] : [] };
  };
  return fuseEach(model, (n) => isOp(n, 'Softmax'), fusion);
}
