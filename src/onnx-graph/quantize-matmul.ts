/**
 * Dynamic int8 quantization of the MatMuls whose right-hand side is a constant float32 weight,
 * the way onnxruntime's Python `quantize_dynamic` writes it (IntegerOps mode, MatMulConstBOnly,
 * its defaults: int8 symmetric weights, uint8 activations, no reduced range):
 *
 *   y = MatMul(x, W)
 *   becomes
 *   xq, xs, xz = DynamicQuantizeLinear(x)                 uint8, once per activation however many MatMuls read it
 *   y = Mul(Cast(MatMulInteger(xq, Wq, xz, Wz), float), Mul(xs, Ws))
 *
 * Wq is int8 with zero point 0 and scale max|W| / 127, per tensor (ORT's default) or per output
 * column (`perColumn`, ORT's per_channel on axis 1). ONNX Runtime's CPU optimizer then fuses each
 * MatMulInteger + Cast + Mul (+ the bias Add after it) into com.microsoft MatMulIntegerToFloat, a
 * uint8 x int8 GEMM. MatMuls of two activations (attention's Q.K and P.V) stay float, as
 * quantize_dynamic leaves them.
 */
import { pruneUnread } from './subgraph.js';
import {
  DataType,
  attrInt,
  floatTensor,
  graphConstants,
  int64ToNumber,
  makeNode,
  makeTensor,
  opsetVersion,
  tensorData,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-proto.js';

export interface QuantizeOptions {
  /** One scale per output column of each weight instead of one per weight. */
  perColumn?: boolean;
}

export interface QuantizeResult {
  model: ModelProto;
  /** MatMuls rewritten; 0 means the model came back unchanged. */
  quantized: number;
  /** Float MatMuls left as they were because their right-hand side is not a constant 2-D float32 weight. */
  skipped: number;
}

/** DynamicQuantizeLinear is opset 11. */
const MIN_OPSET = 11;
const QMAX = 127;

/** numpy's round: halves to even, as the Python quantizer rounds. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** W [K, N] -> int8 with one scale per column (perColumn) or one for all; zero points 0. */
export function quantizeWeight(w: Float32Array, k: number, n: number, perColumn: boolean): { q: Int8Array; scales: Float32Array } {
  const absMax = new Float32Array(perColumn ? n : 1);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      const a = Math.abs(w[i * n + j]);
      const c = perColumn ? j : 0;
      if (a > absMax[c]) absMax[c] = a;
    }
  }
  // An all-zero weight gets scale 1 (as ORT's quantizer does), so nothing divides by zero.
  const scales = absMax.map((m) => (m > 0 ? m / QMAX : 1));
  const q = new Int8Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      const s = scales[perColumn ? j : 0];
      q[i * n + j] = Math.max(-QMAX, Math.min(QMAX, roundHalfEven(w[i * n + j] / s)));
    }
  }
  return { q, scales };
}

/** A constant 2-D float32 weight with its data in the file: [K, N]. */
function weightOf(constants: Map<string, TensorProto>, name: string): { t: TensorProto; k: number; n: number } | null {
  const t = constants.get(name);
  if (!t || t.data_type !== DataType.FLOAT || (t.dims ?? []).length !== 2) return null;
  if (t.data_location === 1 || (t.external_data?.length ?? 0) > 0) return null;
  const [k, n] = (t.dims ?? []).map(int64ToNumber);
  return k > 0 && n > 0 ? { t, k, n } : null;
}

const isDefaultDomain = (n: NodeProto) => (n.domain ?? '') === '' || n.domain === 'ai.onnx';

export function quantizeDynamicMatMul(model: ModelProto, options: QuantizeOptions = {}): QuantizeResult {
  const graph = model.graph ?? {};
  const opset = opsetVersion(model) ?? 0;
  const matmuls = (graph.node ?? []).filter((n) => n.op_type === 'MatMul' && isDefaultDomain(n));
  if (opset < MIN_OPSET) return { model, quantized: 0, skipped: matmuls.length };
  const constants = graphConstants(graph);
  const perColumn = options.perColumn ?? false;
  const quantizedOutputs = new Set<string>();

  const added: TensorProto[] = [];
  const weights = new Map<string, { q: string; scale: string; zero: string }>();
  const activations = new Map<string, { q: string; scale: string; zero: string }>();
  let quantized = 0;
  let skipped = 0;
  const prefix = 'coalesce_q8';

  const nodes = (graph.node ?? []).flatMap((node): NodeProto[] => {
    if (node.op_type === 'Add' && isDefaultDomain(node)) return [biasSecond(node, constants, quantizedOutputs)];
    if (node.op_type !== 'MatMul' || !isDefaultDomain(node)) return [node];
    const [x = '', wName = ''] = node.input ?? [];
    const w = weightOf(constants, wName);
    if (!w || !x) {
      skipped++;
      return [node];
    }
    const id = quantized++;
    quantizedOutputs.add(node.output![0]);
    const out: NodeProto[] = [];
    let wq = weights.get(wName);
    if (!wq) {
      const { q, scales } = quantizeWeight(tensorData(w.t) as Float32Array, w.k, w.n, perColumn);
      const base = `${prefix}_w${weights.size}`;
      const dims = perColumn ? [w.n] : [];
      added.push(
        makeTensor(`${base}_quantized`, DataType.INT8, [w.k, w.n], q),
        floatTensor(`${base}_scale`, scales, dims),
        makeTensor(`${base}_zero_point`, DataType.INT8, dims, new Int8Array(perColumn ? w.n : 1)),
      );
      wq = { q: `${base}_quantized`, scale: `${base}_scale`, zero: `${base}_zero_point` };
      weights.set(wName, wq);
    }
    let xq = activations.get(x);
    if (!xq) {
      const base = `${prefix}_a${activations.size}`;
      xq = { q: `${base}_quantized`, scale: `${base}_scale`, zero: `${base}_zero_point` };
      out.push(makeNode('DynamicQuantizeLinear', [x], [xq.q, xq.scale, xq.zero], [], { name: `${base}_quantize` }));
      activations.set(x, xq);
    }
    // One scale product per MatMul: ORT's fusion takes it only when the product has one reader.
    const m = `${prefix}_m${id}`;
    out.push(
      makeNode('MatMulInteger', [xq.q, wq.q, xq.zero, wq.zero], [`${m}_int32`], [], { name: `${m}_matmul` }),
      makeNode('Cast', [`${m}_int32`], [`${m}_float`], [attrInt('to', DataType.FLOAT)], { name: `${m}_cast` }),
      makeNode('Mul', [xq.scale, wq.scale], [`${m}_scale`], [], { name: `${m}_scales` }),
      makeNode('Mul', [`${m}_float`, `${m}_scale`], [node.output![0]], [], { name: `${m}_dequantize` }),
    );
    return out;
  });
  if (quantized === 0) return { model, quantized, skipped };
  // The float weights go unless something else still reads them (pruneUnread).
  const rewritten = { ...model, graph: { ...graph, node: nodes, initializer: [...(graph.initializer ?? []), ...added] } };
  return { model: pruneUnread(rewritten), quantized, skipped };
}

/**
 * Add(bias, y) as Add(y, bias): the same sum, but ORT's MatMulIntegerToFloat fusion only takes a
 * bias that is the Add's second input, and torch.onnx writes BERT's projection biases first.
 */
function biasSecond(node: NodeProto, constants: Map<string, TensorProto>, quantizedOutputs: ReadonlySet<string>): NodeProto {
  const [a, b] = node.input ?? [];
  const isBias = (constants.get(a ?? '')?.dims ?? []).length === 1;
  return isBias && quantizedOutputs.has(b ?? '') ? { ...node, input: [b, a] } : node;
}
