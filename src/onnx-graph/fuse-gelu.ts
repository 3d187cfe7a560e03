/**
 * Rewrites the tanh approximation of GELU, as torch.onnx exports it node by node, into ONNX
 * Runtime's com.microsoft.FastGelu, taking the bias Add of the MatMul that feeds it:
 *
 *   x = MatMul(..) + bias
 *   y = 0.5 * x * (1 + tanh(0.7978845608 * (x + 0.044715 * x^3)))     (x^3 as x * x * x or Pow(x, 3))
 *   becomes y = FastGelu(MatMul(..), bias)
 *
 * ONNX Runtime fuses the activation itself but leaves the bias Add before it, which in SigLIP's
 * MLP runs over [batch, 196, 3072], four times the width of the other Adds; a FastGelu without
 * bias after such an Add (what its transformer optimizer can write) takes the bias too. FastGelu
 * computes the same formula (float16 graphs: the constants rounded to half), exact up to float
 * rounding.
 */
import { makeNode, type ModelProto, type NodeProto } from './onnx-proto.js';
import {
  constantScalar as scalar,
  fuseEach,
  isOp,
  projectionBias,
  readOnlyInside,
  scalarOperand,
  type Fusion,
  type GraphIndex as Index,
} from './graph-index.js';

/** Within half-float rounding of `want`. */
const near = (v: number | null, want: number) => v !== null && Math.abs(v - want) <= Math.abs(want) * 2e-3;

/** The only reader of `name` when it is `op` and nothing else (no graph output) reads it. */
function onlyReader(index: Index, name: string, op: string): NodeProto | null {
  const r = index.readers.get(name) ?? [];
  return r.length === 1 && isOp(r[0], op) && !index.outputs.has(name) ? r[0] : null;
}

/** x^3 = Pow(x, 3) or x * (x * x) in either order: the nodes, or null. */
function cubeOf(index: Index, name: string, x: string): NodeProto[] | null {
  const n = index.producer.get(name);
  if (!n || (n.domain ?? '') !== '') return null;
  if (n.op_type === 'Pow') return n.input?.[0] === x && near(scalar(index, n.input[1]), 3) ? [n] : null;
  if (n.op_type !== 'Mul') return null;
  const [a, b] = n.input ?? [];
  const square = index.producer.get(a === x ? b : a);
  if ((a !== x && b !== x) || !isOp(square, 'Mul') || square.input?.[0] !== x || square.input?.[1] !== x) return null;
  return [square, n];
}

interface Match {
  x: string;
  nodes: NodeProto[];
  out: string;
}

function match(index: Index, tanh: NodeProto): Match | null {
  // Backwards from tanh: sqrt(2/pi) * (x + 0.044715 * x^3).
  const scaled = index.producer.get(tanh.input?.[0] ?? '');
  if (!isOp(scaled, 'Mul')) return null;
  const s = scalarOperand(index, scaled);
  if (!s || !near(s[0], Math.sqrt(2 / Math.PI))) return null;
  const inner = index.producer.get(s[1]);
  if (!isOp(inner, 'Add')) return null;
  for (const [x, cubic] of [
    [inner.input![0], inner.input![1]],
    [inner.input![1], inner.input![0]],
  ]) {
    const c = index.producer.get(cubic);
    if (!isOp(c, 'Mul')) continue;
    const k = scalarOperand(index, c);
    if (!k || !near(k[0], 0.044715)) continue;
    const cube = cubeOf(index, k[1], x);
    if (!cube) continue;
    // Forwards from tanh: 0.5 * x * (1 + t), as (x * (1 + t)) * 0.5 or (0.5 * x) * (1 + t).
    const one = onlyReader(index, tanh.output![0], 'Add');
    if (!one || !near(scalarOperand(index, one)?.[0] ?? null, 1)) return null;
    const times = onlyReader(index, one.output![0], 'Mul');
    if (!times) return null;
    const other = times.input![0] === one.output![0] ? times.input![1] : times.input![0];
    const nodes = [...cube, c, inner, scaled, tanh, one, times];
    if (other === x) {
      const half = onlyReader(index, times.output![0], 'Mul');
      if (!half || !near(scalarOperand(index, half)?.[0] ?? null, 0.5)) return null;
      return { x, nodes: [...nodes, half], out: half.output![0] };
    }
    const halfX = index.producer.get(other);
    if (!isOp(halfX, 'Mul') || (index.readers.get(other) ?? []).length !== 1) return null;
    const h = scalarOperand(index, halfX);
    if (!h || h[1] !== x || !near(h[0], 0.5)) return null;
    return { x, nodes: [...nodes, halfX], out: times.output![0] };
  }
  return null;
}

/** A tanh GELU from its Tanh: FastGelu, with the bias of the projection feeding it when there is one. */
function fromTanh(index: Index, tanh: NodeProto): Fusion | null {
  const m = match(index, tanh);
  // Every intermediate is read only inside the pattern (x itself may be read elsewhere).
  if (!m || !readOnlyInside(index, m.nodes, m.out)) return null;
  const b = projectionBias(index, m.x, new Set(m.nodes));
  const node = makeNode('FastGelu', b ? [b.input, b.bias] : [m.x], [m.out], [], { name: `coalesce_fast_gelu:${m.out}`, domain: 'com.microsoft' });
  return { removed: b ? [...m.nodes, b.add] : m.nodes, at: m.nodes[m.nodes.length - 1], node };
}

/** A FastGelu without bias after a projection's bias Add (ONNX Runtime's transformer optimizer writes these): the bias moves in. */
function biasIntoFastGelu(index: Index, gelu: NodeProto): Fusion | null {
  const b = projectionBias(index, gelu.input![0], new Set([gelu]));
  return b && { removed: [b.add, gelu], at: gelu, node: { ...gelu, input: [b.input, b.bias] } };
}

const isBiaslessFastGelu = (n: NodeProto) => n.op_type === 'FastGelu' && n.domain === 'com.microsoft' && !n.input?.[1];

/** The model with every tanh-GELU (and its bias Add) as FastGelu; `fused` 0 means unchanged. */
export function fuseGelu(model: ModelProto): { model: ModelProto; fused: number } {
  return fuseEach(
    model,
    (n) => isOp(n, 'Tanh') || isBiaslessFastGelu(n),
    (index, n) => (n.op_type === 'Tanh' ? fromTanh(index, n) : biasIntoFastGelu(index, n)),
  );
}
