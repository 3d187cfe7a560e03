/**
 * Graph surgery for two-tower (CLIP / SigLIP) models:
 * - extractSubgraph keeps only what some outputs need, so one tower of a combined graph (optimum's
 *   model.onnx takes input_ids AND pixel_values) runs without the other's inputs;
 * - padTextInputs puts SigLIP's fixed-length padding inside the graph, so the text path's usual
 *   right-padded batches (pad 0, mask 0) reach the model padded to max length with the pad token
 *   and no attention mask, as SigLIP was trained and as transformers' processor feeds it.
 */
import {
  attrInt,
  attrTensor,
  DataType,
  int64Tensor,
  makeNode,
  makeTensor,
  makeValueInfo,
  valueInfoElemType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.js';

export class SubgraphError extends Error {
  override name = 'SubgraphError';
}

/** Names a node reads, including outer-scope names read inside its subgraphs (If / Loop / Scan). */
function reads(node: NodeProto): string[] {
  const names = [...(node.input ?? [])];
  for (const a of node.attribute ?? []) {
    for (const g of [a.g, ...(a.graphs ?? [])]) {
      for (const n of g?.node ?? []) names.push(...reads(n));
    }
  }
  return names.filter((n) => n !== '');
}

export interface ExtractOptions {
  /** Output name -> new name (an Identity node is added), e.g. pooler_output -> text_embeds. */
  rename?: Record<string, string>;
  /** Tensors to cut at: they become graph inputs (with these value infos) and what produced them is dropped. */
  cutAt?: ValueInfoProto[];
}

/** A model computing only `outputs` from the inputs they depend on. Nodes must be in topological order, as ONNX requires. */
export function extractSubgraph(model: ModelProto, outputs: readonly string[], options: ExtractOptions = {}): ModelProto {
  const graph = model.graph ?? {};
  const known = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  for (const o of outputs) if (!known.has(o)) throw new SubgraphError(`the graph has no output '${o}' (outputs: ${[...known].join(', ')})`);
  const cut = new Set((options.cutAt ?? []).map((v) => v.name ?? ''));
  const needed = new Set<string>(outputs);
  const kept: NodeProto[] = [];
  const nodes = graph.node ?? [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (!(node.output ?? []).some((o) => needed.has(o) && !cut.has(o))) continue;
    kept.push(node);
    for (const name of reads(node)) needed.add(name);
  }
  kept.reverse();
  const rename = options.rename ?? {};
  const extra: NodeProto[] = [];
  const outs: ValueInfoProto[] = [];
  for (const name of outputs) {
    const vi = (graph.output ?? []).find((o) => o.name === name)!;
    const target = rename[name];
    if (target && target !== name) {
      extra.push(makeNode('Identity', [name], [target], [], { name: `coalesce_rename_${target}` }));
      outs.push({ ...vi, name: target });
    } else {
      outs.push(vi);
    }
  }
  const sub: GraphProto = {
    ...graph,
    node: [...kept, ...extra],
    input: [...(graph.input ?? []).filter((i) => needed.has(i.name ?? '') && !cut.has(i.name ?? '')), ...(options.cutAt ?? [])],
    output: outs,
    initializer: (graph.initializer ?? []).filter((t) => needed.has(t.name ?? '')),
    value_info: (graph.value_info ?? []).filter((v) => needed.has(v.name ?? '') && !cut.has(v.name ?? '')),
  };
  if ((graph as { sparse_initializer?: unknown[] }).sparse_initializer) {
    (sub as { sparse_initializer?: unknown[] }).sparse_initializer = [];
  }
  return { ...model, graph: sub };
}

/** The model without what none of its outputs needs: nodes, constants and inputs a rewrite left unread. */
export function pruneUnread(model: ModelProto): ModelProto {
  return extractSubgraph(
    model,
    (model.graph?.output ?? []).map((o) => o.name ?? ''),
  );
}

/** Names of the graph's inputs that are real inputs (not initializers listed as inputs, as old exporters did). */
export function graphInputNames(model: ModelProto): string[] {
  const inits = new Set((model.graph?.initializer ?? []).map((t) => t.name ?? ''));
  return (model.graph?.input ?? []).map((i) => i.name ?? '').filter((n) => !inits.has(n));
}

export interface FixedPadding {
  /** Every row is padded to this many tokens (SigLIP: 64). */
  length: number;
  /** The pad token's id (SigLIP: the id of </s>). */
  padId: number;
}

export function replaceReads(nodes: NodeProto[], from: string, to: string): void {
  for (const node of nodes) {
    node.input = (node.input ?? []).map((n) => (n === from ? to : n));
    for (const a of node.attribute ?? []) for (const g of [a.g, ...(a.graphs ?? [])]) if (g) replaceReads(g.node ?? [], from, to);
  }
}

function scalarOf(name: string, elemType: number, value: number): TensorProto {
  if (elemType === DataType.INT32) return makeTensor(name, DataType.INT32, [], new Int32Array([value]));
  return int64Tensor(name, [value], []);
}

/**
 * Wraps a text graph taking input_ids [B, S] (S <= length) so that it takes input_ids and
 * attention_mask as right-padded batches, rewrites the padding to `padId`, pads every row to
 * `length`, and feeds the original graph an all-ones mask if it takes one (SigLIP attends to
 * its padding: transformers passes no mask).
 */
export function padTextInputs(model: ModelProto, padding: FixedPadding): ModelProto {
  const graph = model.graph ?? {};
  const inputs = graph.input ?? [];
  const ids = inputs.find((i) => i.name === 'input_ids');
  if (!ids) throw new SubgraphError('the text graph takes no input_ids');
  const other = graphInputNames(model).filter((n) => n !== 'input_ids' && n !== 'attention_mask');
  if (other.length > 0) throw new SubgraphError(`the text graph needs inputs this server cannot feed: ${other.join(', ')}`);
  const idType = valueInfoElemType(ids) ?? DataType.INT64;
  const takesMask = inputs.some((i) => i.name === 'attention_mask');
  const maskType = takesMask ? (valueInfoElemType(inputs.find((i) => i.name === 'attention_mask')!) ?? DataType.INT64) : idType;
  const p = (s: string) => `coalesce_pad_${s}`;
  const nodes: NodeProto[] = (graph.node ?? []).map((n) => ({ ...n, input: [...(n.input ?? [])] }));
  replaceReads(nodes, 'input_ids', p('ids'));
  if (takesMask) replaceReads(nodes, 'attention_mask', p('ones'));
  const prefix: NodeProto[] = [
    makeNode('Cast', ['attention_mask'], [p('keep')], [attrInt('to', DataType.BOOL)]),
    makeNode('Where', [p('keep'), 'input_ids', p('pad_id')], [p('ids_repadded')]),
    makeNode('Shape', ['input_ids'], [p('shape')]),
    makeNode('Gather', [p('shape'), p('one')], [p('seq')], [attrInt('axis', 0)]),
    makeNode('Sub', [p('length'), p('seq')], [p('missing_scalar')]),
    makeNode('Reshape', [p('missing_scalar'), p('shape_1')], [p('missing')]),
    makeNode('Concat', [p('zeros3'), p('missing')], [p('pads')], [attrInt('axis', 0)]),
    makeNode('Pad', [p('ids_repadded'), p('pads'), p('pad_id')], [p('ids')]),
  ];
  if (takesMask) {
    prefix.push(makeNode('Shape', [p('ids')], [p('padded_shape')]));
    const one = { ...scalarOf(p('one_value'), maskType, 1), dims: [1] };
    prefix.push(makeNode('ConstantOfShape', [p('padded_shape')], [p('ones')], [attrTensor('value', one)]));
  }
  const initializers: TensorProto[] = [
    scalarOf(p('pad_id'), idType, padding.padId),
    int64Tensor(p('one'), [1], []),
    int64Tensor(p('length'), [padding.length], []),
    int64Tensor(p('shape_1'), [1], [1]),
    int64Tensor(p('zeros3'), [0, 0, 0], [3]),
  ];
  const newInputs: ValueInfoProto[] = [
    makeValueInfo('input_ids', idType, ['batch_size', 'sequence_length']),
    makeValueInfo('attention_mask', maskType, ['batch_size', 'sequence_length']),
  ];
  return {
    ...model,
    graph: {
      ...graph,
      node: [...prefix, ...nodes],
      input: [...newInputs, ...inputs.filter((i) => i.name !== 'input_ids' && i.name !== 'attention_mask')],
      initializer: [...initializers, ...(graph.initializer ?? [])],
      // Old shape annotations of input_ids no longer hold for the renamed tensor: drop them.
      value_info: (graph.value_info ?? []).filter((v) => v.name !== 'input_ids' && v.name !== 'attention_mask'),
    },
  };
}
