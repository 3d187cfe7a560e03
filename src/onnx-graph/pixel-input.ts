import { attrInt, attrInts, DataType, floatTensor, makeNode, makeValueInfo, valueInfoElemType, type ModelProto, type NodeProto } from './onnx-proto.js';
import { replaceReads } from './subgraph.js';

/** The input of a vision graph after pixelInput: the image as decoded, [B, H, W, 3] uint8 RGB. */
export const PIXELS_INPUT = 'pixels';
/** What the tower's own nodes read after pixelInput: pixel_values [B, 3, H, W] as the tower takes them. */
export const PIXEL_VALUES = 'coalesce_pixels_chw';

export interface PixelNormalization {
  /** pixel_values[c] = pixel * scale[c] + shift[c]: rescale_factor / std and -mean / std. */
  scale: readonly number[];
  shift: readonly number[];
  height: number;
  width: number;
}

/**
 * A vision graph that takes `pixels`, the resized and cropped image as 8-bit RGB rows [B, H, W, 3],
 * and computes pixel_values from it on the device: Cast, rescale and normalize (one Mul and one Add
 * per channel), HWC -> CHW, and a Cast to float16 when the tower takes half floats. In JS those
 * cost ~0.8 ms per 224 x 224 image on the 2-core CI machine, and float32 CHW is four times the
 * bytes to pass between threads and to copy to the GPU.
 */
export function pixelInput(model: ModelProto, normalization: PixelNormalization, input = 'pixel_values'): ModelProto {
  const graph = model.graph ?? {};
  const declared = (graph.input ?? []).find((i) => i.name === input);
  if (!declared) throw new Error(`the graph takes no ${input}`);
  const type = valueInfoElemType(declared);
  if (type !== DataType.FLOAT && type !== DataType.FLOAT16) throw new Error(`${input} is not float32 or float16 (ONNX type ${type})`);
  const p = 'coalesce_pixels';
  const float = type === DataType.FLOAT ? PIXEL_VALUES : `${p}_chw_float32`;
  const nodes: NodeProto[] = (graph.node ?? []).map((n) => ({ ...n, input: [...(n.input ?? [])] }));
  replaceReads(nodes, input, PIXEL_VALUES);
  const prologue = [
    makeNode('Cast', [PIXELS_INPUT], [`${p}_float`], [attrInt('to', DataType.FLOAT)]),
    makeNode('Mul', [`${p}_float`, `${p}_scale`], [`${p}_scaled`]),
    makeNode('Add', [`${p}_scaled`, `${p}_shift`], [`${p}_hwc`]),
    makeNode('Transpose', [`${p}_hwc`], [float], [attrInts('perm', [0, 3, 1, 2])]),
    ...(type === DataType.FLOAT16 ? [makeNode('Cast', [float], [PIXEL_VALUES], [attrInt('to', DataType.FLOAT16)])] : []),
  ];
  return {
    ...model,
    graph: {
      ...graph,
      node: [...prologue, ...nodes],
      input: (graph.input ?? []).map((i) =>
        i.name === input ? makeValueInfo(PIXELS_INPUT, DataType.UINT8, ['batch', normalization.height, normalization.width, 3]) : i,
      ),
      initializer: [...(graph.initializer ?? []), floatTensor(`${p}_scale`, normalization.scale, [3]), floatTensor(`${p}_shift`, normalization.shift, [3])],
      value_info: (graph.value_info ?? []).filter((v) => v.name !== input),
    },
  };
}
