/** Emits the uniquely named nodes and constants of a graph rewrite, choosing the attribute or input form of axes by opset. */
import { attrInt, attrInts, int64Tensor, makeNode, type GraphProto, type NodeProto, type TensorProto } from './onnx-proto.js';

/** Where Unsqueeze, Squeeze and ReduceSum take axes as an input instead of an attribute. */
const AXES_INPUT_OPSET = 13;
/** Same, for ReduceMax and ReduceL2. */
const REDUCE_AXES_INPUT_OPSET = 18;

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private count = 0;

  constructor(
    private readonly opset: number,
    /** Every name this builder makes starts with it, so rewrites cannot collide with the model's names. */
    private readonly prefix: string,
  ) {}

  private name(hint: string): string {
    return `${this.prefix}${hint}_${this.count++}`;
  }

  op(type: string, inputs: string[], attributes = [] as ReturnType<typeof attrInt>[]): string {
    const out = this.name(type);
    this.nodes.push(makeNode(type, inputs, [out], attributes, { name: out }));
    return out;
  }

  /** A node with a chosen output name (a graph output). */
  output(type: string, inputs: string[], name: string, attributes = [] as ReturnType<typeof attrInt>[]): string {
    this.nodes.push(makeNode(type, inputs, [name], attributes, { name: `${this.prefix}${name}` }));
    return name;
  }

  const(t: TensorProto): string {
    const name = this.name('const');
    this.initializers.push({ ...t, name });
    return name;
  }

  private axesOp(type: string, x: string, axes: number[], inputForm: boolean, extra: ReturnType<typeof attrInt>[] = []): string {
    return inputForm ? this.op(type, [x, this.const(int64Tensor('', axes))], extra) : this.op(type, [x], [attrInts('axes', axes), ...extra]);
  }

  unsqueeze(x: string, axes: number[]): string {
    return this.axesOp('Unsqueeze', x, axes, this.opset >= AXES_INPUT_OPSET);
  }

  squeeze(x: string, axes: number[]): string {
    return this.axesOp('Squeeze', x, axes, this.opset >= AXES_INPUT_OPSET);
  }

  reduce(type: 'ReduceSum' | 'ReduceMax' | 'ReduceL2', x: string, axes: number[], keepdims: boolean): string {
    const inputForm = this.opset >= (type === 'ReduceSum' ? AXES_INPUT_OPSET : REDUCE_AXES_INPUT_OPSET);
    return this.axesOp(type, x, axes, inputForm, [attrInt('keepdims', keepdims ? 1 : 0)]);
  }
}

/** Every value name a graph defines (inputs, outputs, value infos, node outputs, initializers): what a rewrite must not reuse. */
export function graphValueNames(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.value_info ?? []), ...(graph.initializer ?? [])]) if (v.name) names.add(v.name);
  for (const n of graph.node ?? []) for (const o of n.output ?? []) names.add(o);
  return names;
}
