import { pruneUnread } from './subgraph.js';
import {
  attribute,
  attributeInts,
  attrInts,
  graphConstants,
  int64Tensor,
  int64ToNumber,
  makeNode,
  makeTensor,
  tensorData,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './onnx-proto.js';

/**
 * A vision tower's patch embedding, Conv(pixels) with kernel == stride and no padding, rewritten
 * as cutting the image into patches (Reshape, Transpose) and one MatMul. Same sums; but ONNX
 * Runtime's CUDA Conv redoes its cuDNN set-up whenever the batch size differs from its previous
 * call, which cost ~25 ms per call under the image batcher's changing batch sizes (a batch of 16
 * images took 3 ms at a fixed size and 32 ms served, on an H200).
 *
 * `input` is the [B, C, H, W] pixel tensor of known height and width that the Conv reads (maybe through a Cast).
 */
export function patchMatMul(model: ModelProto, input: string, height: number, width: number): { model: ModelProto; rewritten: number } {
  const graph = model.graph ?? {};
  const inits = graphConstants(graph);
  const added: TensorProto[] = [];
  let rewritten = 0;
  // The tower may cast pixel_values to its own type first (SigLIP does): same shape.
  const pixels = new Set([input]);
  for (const n of graph.node ?? []) if (n.op_type === 'Cast' && pixels.has(n.input?.[0] ?? '')) pixels.add(n.output?.[0] ?? '');
  const nodes = (graph.node ?? []).flatMap((n): NodeProto[] => {
    const [x = '', weight = '', biasName = ''] = n.input ?? [];
    if (n.op_type !== 'Conv' || (n.domain ?? '') !== '' || !pixels.has(x)) return [n];
    const w = inits.get(weight);
    const bias = biasName ? inits.get(biasName) : undefined;
    const dims = w?.dims?.map(int64ToNumber) ?? [];
    const [out, channels, kh, kw] = dims;
    const [sh, sw] = attributeInts(n, 'strides');
    const group = int64ToNumber(attribute(n, 'group')?.i ?? 1);
    const autoPad = new TextDecoder().decode(attribute(n, 'auto_pad')?.s ?? new Uint8Array());
    const unpadded = attributeInts(n, 'pads').every((p) => p === 0) && ['', 'NOTSET', 'VALID'].includes(autoPad);
    const undilated = attributeInts(n, 'dilations').every((d) => d === 1);
    if (!w || dims.length !== 4 || kh !== sh || kw !== sw || group !== 1 || !unpadded || !undilated || height % kh !== 0 || width % kw !== 0) return [n];
    if (biasName && !bias) return [n];
    const k = channels * kh * kw;
    // [O, C, kh, kw] -> [C * kh * kw, O]: the MatMul's right-hand side.
    const data = tensorData(w);
    const t = new (data.constructor as new (n: number) => typeof data)(data.length);
    for (let o = 0; o < out; o++) for (let i = 0; i < k; i++) (t as Float32Array)[i * out + o] = (data as Float32Array)[o * k + i];
    const p = `coalesce_patches_${rewritten}`;
    const gh = height / kh;
    const gw = width / kw;
    added.push(
      makeTensor(`${p}_weight`, w.data_type!, [k, out], t),
      int64Tensor(`${p}_grid`, [-1, channels, gh, kh, gw, kw]),
      int64Tensor(`${p}_rows`, [-1, gh * gw, k]),
      int64Tensor(`${p}_image`, [-1, out, gh, gw]),
    );
    rewritten++;
    const projected = bias ? `${p}_projected` : `${p}_embedded`;
    return [
      makeNode('Reshape', [x, `${p}_grid`], [`${p}_grid_out`]),
      makeNode('Transpose', [`${p}_grid_out`], [`${p}_cut`], [attrInts('perm', [0, 2, 4, 1, 3, 5])]),
      makeNode('Reshape', [`${p}_cut`, `${p}_rows`], [`${p}_rows_out`]),
      makeNode('MatMul', [`${p}_rows_out`, `${p}_weight`], [projected]),
      ...(bias ? [makeNode('Add', [projected, biasName], [`${p}_embedded`])] : []),
      // Back to the Conv's [B, O, H / k, W / k] for what reads it (usually flattened and transposed right back).
      makeNode('Transpose', [`${p}_embedded`], [`${p}_channels_first`], [attrInts('perm', [0, 2, 1])]),
      makeNode('Reshape', [`${p}_channels_first`, `${p}_image`], [n.output![0]]),
    ];
  });
  if (rewritten === 0) return { model, rewritten };
  // The Conv's own weight goes with it (pruneUnread): the served graph would carry it twice.
  return { model: pruneUnread({ ...model, graph: { ...graph, node: nodes, initializer: [...(graph.initializer ?? []), ...added] } }), rewritten };
}
