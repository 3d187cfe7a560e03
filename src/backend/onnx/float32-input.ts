import { attrInt, DataType, makeNode, makeValueInfo, valueInfoElemType, valueInfoShape, type ModelProto, type NodeProto } from './onnx-proto.js';
import { replaceReads } from './subgraph.js';

/**
 * A graph whose `input` is float16 (transformers.js fp16 vision towers) rewritten to take float32
 * and cast on the device. Converting pixels to half floats in JS takes ~30 ms per 17 images of
 * 224 x 224 on the session thread (measured on the 2-core CI machine); a Cast on the GPU takes
 * microseconds.
 * Returns null when the input is not float16.
 */
export function float32Input(model: ModelProto, input: string): ModelProto | null {
  const graph = model.graph ?? {};
  const declared = (graph.input ?? []).find((i) => i.name === input);
  if (!declared || valueInfoElemType(declared) !== DataType.FLOAT16) return null;
  const half = `coalesce_${input}_float16`;
  const nodes: NodeProto[] = (graph.node ?? []).map((n) => ({ ...n, input: [...(n.input ?? [])] }));
  replaceReads(nodes, input, half);
  return {
    ...model,
    graph: {
      ...graph,
      node: [makeNode('Cast', [input], [half], [attrInt('to', DataType.FLOAT16)]), ...nodes],
      input: (graph.input ?? []).map((i) => (i.name === input ? makeValueInfo(input, DataType.FLOAT, valueInfoShape(i)) : i)),
      value_info: (graph.value_info ?? []).filter((v) => v.name !== input),
    },
  };
}
