/**
 * Reading and writing ONNX model files (ModelProto) with protobufjs, plus small builders for
 * nodes, tensors, value infos, graphs and models.
 *
 * The schema is proto/onnx.proto (package "onnx"), loaded once with field names kept as in the
 * schema (snake_case: op_type, raw_data, ...), so objects here look like the ONNX spec and like
 * the Python `onnx` package.
 *
 * Objects are plain JS objects (not protobufjs message instances):
 * - repeated fields of decoded models are always arrays (possibly empty), so they can be pushed to;
 * - int64 fields are `number` when they fit in a double exactly, else a protobufjs `Long`
 *   (exported type {@link Int64}); models use INT64_MAX in places (Slice ends), which must survive
 *   a decode/encode round trip, so big values are never rounded;
 * - bytes fields (raw_data, s, strings, ...) are Uint8Array views: decoding does not copy tensor
 *   data out of the input buffer, and encoding copies it once, into the output buffer.
 */
import { endianness } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_DIR } from '../paths.js';

// ---------------------------------------------------------------------------------------------
// Types (the subset of fields code here is expected to touch is typed; the rest stays open)

/** What protobufjs uses for 64-bit integers it cannot represent as a safe JS number. */
export interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
  toString(radix?: number): string;
  toNumber(): number;
}

/** An int64 field value: a number when exact, else a Long. Encoding accepts number, Long or a decimal string. */
export type Int64 = number | LongLike | string;

export interface StringStringEntryProto {
  key?: string;
  value?: string;
}

export interface OperatorSetIdProto {
  domain?: string;
  version?: Int64;
}

export interface TensorShapeDimension {
  dim_value?: Int64;
  dim_param?: string;
  denotation?: string;
}

export interface TensorShapeProto {
  dim?: TensorShapeDimension[];
}

export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  sequence_type?: { elem_type?: TypeProto };
  map_type?: { key_type?: number; value_type?: TypeProto };
  optional_type?: { elem_type?: TypeProto };
  sparse_tensor_type?: { elem_type?: number; shape?: TensorShapeProto };
  denotation?: string;
  [field: string]: unknown;
}

export interface ValueInfoProto {
  name?: string;
  type?: TypeProto;
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
}

export interface TensorProto {
  dims?: Int64[];
  data_type?: number;
  name?: string;
  doc_string?: string;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  string_data?: Uint8Array[];
  int64_data?: Int64[];
  double_data?: number[];
  uint64_data?: Int64[];
  external_data?: StringStringEntryProto[];
  data_location?: number;
  metadata_props?: StringStringEntryProto[];
  [field: string]: unknown;
}

export interface AttributeProto {
  name?: string;
  ref_attr_name?: string;
  doc_string?: string;
  type?: number;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: Int64[];
  strings?: Uint8Array[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  [field: string]: unknown;
}

export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  overload?: string;
  attribute?: AttributeProto[];
  doc_string?: string;
  metadata_props?: StringStringEntryProto[];
  [field: string]: unknown;
}

export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  doc_string?: string;
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  value_info?: ValueInfoProto[];
  metadata_props?: StringStringEntryProto[];
  [field: string]: unknown;
}

export interface ModelProto {
  ir_version?: Int64;
  opset_import?: OperatorSetIdProto[];
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: Int64;
  doc_string?: string;
  graph?: GraphProto;
  metadata_props?: StringStringEntryProto[];
  functions?: unknown[];
  [field: string]: unknown;
}

/** TensorProto.DataType codes. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;

/** AttributeProto.AttributeType codes. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

// ---------------------------------------------------------------------------------------------
// Schema loading, decode, encode

let schemaRoot: protobuf.Root | undefined;

/** The loaded schema (proto/onnx.proto), loaded on first use. */
export function onnxSchema(): protobuf.Root {
  if (!schemaRoot) {
    const root = new protobuf.Root();
    root.loadSync(join(PROTO_DIR, 'onnx.proto'), { keepCase: true });
    root.resolveAll();
    schemaRoot = root;
  }
  return schemaRoot;
}

/** A message type of the schema, e.g. onnxType('ModelProto') or onnxType('TensorProto'). */
export function onnxType(name: string): protobuf.Type {
  return onnxSchema().lookupType('onnx.' + name);
}

function isLong(v: unknown): v is LongLike {
  const L = protobuf.util.Long as unknown as { isLong?: (x: unknown) => boolean } | undefined;
  return !!L && typeof L.isLong === 'function' && L.isLong(v);
}

/** Replace, in place, every Long that fits in a safe integer by a number. */
function simplifyLongs(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value)) return value;
  if (isLong(value)) {
    const n = value.toNumber();
    return Number.isSafeInteger(n) ? n : value;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (v !== null && typeof v === 'object') value[i] = simplifyLongs(v);
    }
    return value;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (v !== null && typeof v === 'object') obj[key] = simplifyLongs(v);
  }
  return obj;
}

/** Decode any schema message to a plain object (see the module comment for the conventions). */
export function decodeMessage<T>(typeName: string, bytes: Uint8Array): T {
  const type = onnxType(typeName);
  const message = type.decode(bytes);
  const obj = type.toObject(message, { arrays: true, defaults: false });
  return simplifyLongs(obj) as T;
}

/** Encode a plain object as a schema message. Bytes fields must be Uint8Array (not other typed arrays). */
export function encodeMessage(typeName: string, obj: object): Uint8Array {
  const type = onnxType(typeName);
  const message = type.fromObject(obj as Record<string, unknown>);
  return type.encode(message).finish();
}

/** Decode the bytes of a .onnx file. Tensor raw_data stays a view into `bytes` (no copy): keep `bytes` unchanged while the model is in use. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return decodeMessage<ModelProto>('ModelProto', bytes);
}

/** Encode a model into the bytes of a .onnx file (the protobuf limit of 2 GiB per file applies). */
export function encodeModel(model: ModelProto): Uint8Array {
  return encodeMessage('ModelProto', model);
}

// ---------------------------------------------------------------------------------------------
// Builders

/** int64 value as a number; throws when it does not fit exactly. */
export function int64ToNumber(v: Int64 | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const n = typeof v === 'string' ? Number(v) : v.toNumber();
  if (!Number.isSafeInteger(n)) throw new RangeError(`int64 value ${String(v)} does not fit in a JS number`);
  return n;
}

function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('ONNX raw_data is little-endian; this host is big-endian (not supported)');
}

/** Bytes of a typed array, as a view (no copy). */
export function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A tensor holding `data` as raw_data (a view of `data`, not a copy: keep `data` unchanged until encoded). */
export function makeTensor(name: string, dataType: number, dims: readonly number[], data: ArrayBufferView): TensorProto {
  assertLittleEndian();
  return { name, data_type: dataType, dims: [...dims], raw_data: bytesOf(data) };
}

/** A float32 tensor; `dims` defaults to [data.length]; `[]` gives a scalar. */
export function floatTensor(name: string, data: Float32Array | readonly number[], dims?: readonly number[]): TensorProto {
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  return makeTensor(name, DataType.FLOAT, dims ?? [arr.length], arr);
}

/** An int64 tensor; `dims` defaults to [data.length]; `[]` gives a scalar. */
export function int64Tensor(name: string, data: BigInt64Array | readonly number[], dims?: readonly number[]): TensorProto {
  const arr = data instanceof BigInt64Array ? data : BigInt64Array.from(data, (x) => BigInt(x));
  return makeTensor(name, DataType.INT64, dims ?? [arr.length], arr);
}

type TensorArray = Float32Array | Float64Array | Int32Array | BigInt64Array | BigUint64Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array;

const RAW_ARRAYS: Record<number, { new (buffer: ArrayBuffer, byteOffset: number, length: number): TensorArray; BYTES_PER_ELEMENT: number }> = {
  [DataType.FLOAT]: Float32Array,
  [DataType.DOUBLE]: Float64Array,
  [DataType.INT32]: Int32Array,
  [DataType.INT64]: BigInt64Array,
  [DataType.UINT64]: BigUint64Array,
  [DataType.UINT8]: Uint8Array,
  [DataType.BOOL]: Uint8Array,
  [DataType.INT8]: Int8Array,
  [DataType.UINT16]: Uint16Array,
  [DataType.INT16]: Int16Array,
  [DataType.FLOAT16]: Uint16Array,
  [DataType.BFLOAT16]: Uint16Array,
  [DataType.UINT32]: Uint32Array,
};

/**
 * The elements of a tensor stored in the model (raw_data or the typed *_data fields) as a typed
 * array: Float32Array for FLOAT, BigInt64Array for INT64, Uint16Array (bit patterns) for FLOAT16 /
 * BFLOAT16, Uint8Array for BOOL, ... A view of raw_data when it is aligned, else a copy
 * (raw_data inside a .onnx file is usually not 4-byte aligned). External data is not read.
 */
export function tensorData(t: TensorProto): TensorArray {
  assertLittleEndian();
  const type = t.data_type ?? DataType.UNDEFINED;
  const Ctor = RAW_ARRAYS[type];
  if (!Ctor) throw new Error(`tensorData: unsupported data type ${type} (tensor ${t.name ?? ''})`);
  if (t.data_location === 1 || (t.external_data && t.external_data.length > 0)) {
    throw new Error(`tensorData: tensor ${t.name ?? ''} keeps its data in an external file`);
  }
  const raw = t.raw_data;
  if (raw && raw.byteLength > 0) {
    const n = raw.byteLength / Ctor.BYTES_PER_ELEMENT;
    if (!Number.isInteger(n)) throw new Error(`tensorData: raw_data of ${t.name ?? ''} is ${raw.byteLength} bytes`);
    if (raw.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(raw.buffer as ArrayBuffer, raw.byteOffset, n);
    const copy = new Uint8Array(raw); // aligned copy
    return new Ctor(copy.buffer, 0, n);
  }
  switch (type) {
    case DataType.FLOAT:
      return Float32Array.from(t.float_data ?? []);
    case DataType.DOUBLE:
      return Float64Array.from(t.double_data ?? []);
    case DataType.INT64:
      return BigInt64Array.from(t.int64_data ?? [], (v) => BigInt(typeof v === 'number' ? v : v.toString()));
    case DataType.UINT64:
      return BigUint64Array.from(t.uint64_data ?? [], (v) => BigInt.asUintN(64, BigInt(typeof v === 'number' ? v : v.toString())));
    case DataType.UINT32:
      return Uint32Array.from(t.uint64_data ?? [], (v) => int64ToNumber(v));
    default: {
      // INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16, BFLOAT16 live in int32_data.
      const arr = new Ctor(new ArrayBuffer((t.int32_data?.length ?? 0) * Ctor.BYTES_PER_ELEMENT), 0, t.int32_data?.length ?? 0);
      (t.int32_data ?? []).forEach((v, i) => ((arr as Int32Array)[i] = v));
      return arr;
    }
  }
}

/** A dimension of a value info: a number (fixed), a string (symbolic, e.g. 'batch') or null (unknown). */
export type Dim = number | string | null;

/** A tensor value info; `shape` undefined leaves the rank unknown. */
export function makeValueInfo(name: string, elemType: number, shape?: readonly Dim[]): ValueInfoProto {
  const tensor_type: NonNullable<TypeProto['tensor_type']> = { elem_type: elemType };
  if (shape) {
    tensor_type.shape = {
      dim: shape.map((d) => (d === null ? {} : typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
    };
  }
  return { name, type: { tensor_type } };
}

/** The element type (DataType code) of a tensor value info, or undefined. */
export function valueInfoElemType(vi: ValueInfoProto): number | undefined {
  return vi.type?.tensor_type?.elem_type;
}

/** The shape of a tensor value info (numbers, symbolic names, null for unknown), or undefined when the rank is unknown. */
export function valueInfoShape(vi: ValueInfoProto): Dim[] | undefined {
  const shape = vi.type?.tensor_type?.shape;
  if (!shape) return undefined;
  return (shape.dim ?? []).map((d) => (d.dim_value !== undefined && d.dim_value !== null ? int64ToNumber(d.dim_value) : d.dim_param ? d.dim_param : null));
}

export function attrInt(name: string, i: Int64): AttributeProto {
  return { name, type: AttributeType.INT, i };
}
export function attrFloat(name: string, f: number): AttributeProto {
  return { name, type: AttributeType.FLOAT, f };
}
export function attrInts(name: string, ints: readonly Int64[]): AttributeProto {
  return { name, type: AttributeType.INTS, ints: [...ints] };
}
export function attrTensor(name: string, t: TensorProto): AttributeProto {
  return { name, type: AttributeType.TENSOR, t };
}

/** A node. `attributes` from attrInt/attrFloat/...; `name` defaults to the first output's name. */
export function makeNode(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: readonly AttributeProto[] = [],
  options: { name?: string; domain?: string } = {},
): NodeProto {
  const node: NodeProto = {
    op_type: opType,
    input: [...inputs],
    output: [...outputs],
    name: options.name ?? `${opType}:${outputs[0] ?? ''}`,
    attribute: [...attributes],
  };
  if (options.domain) node.domain = options.domain;
  return node;
}

export function makeGraph(parts: {
  name: string;
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers?: TensorProto[];
  valueInfo?: ValueInfoProto[];
  docString?: string;
}): GraphProto {
  const graph: GraphProto = {
    name: parts.name,
    node: parts.nodes,
    input: parts.inputs,
    output: parts.outputs,
    initializer: parts.initializers ?? [],
    value_info: parts.valueInfo ?? [],
  };
  if (parts.docString) graph.doc_string = parts.docString;
  return graph;
}

/**
 * A model around `graph`. Defaults: opset 17 of the default domain, IR version 8 (the IR that
 * came with opset 17; any runtime that knows opset 17 reads it).
 */
export function makeModel(
  graph: GraphProto,
  options: {
    opsetVersion?: number;
    irVersion?: number;
    producerName?: string;
    producerVersion?: string;
    docString?: string;
    metadata?: Record<string, string>;
    extraOpsets?: OperatorSetIdProto[];
  } = {},
): ModelProto {
  const model: ModelProto = {
    ir_version: options.irVersion ?? 8,
    opset_import: [{ domain: '', version: options.opsetVersion ?? 17 }, ...(options.extraOpsets ?? [])],
    producer_name: options.producerName ?? 'coalesce',
    graph,
  };
  if (options.producerVersion) model.producer_version = options.producerVersion;
  if (options.docString) model.doc_string = options.docString;
  if (options.metadata) model.metadata_props = Object.entries(options.metadata).map(([key, value]) => ({ key, value }));
  return model;
}

/** The opset version the model imports for a domain ('' = the default ONNX domain), or undefined. */
export function opsetVersion(model: ModelProto, domain = ''): number | undefined {
  for (const o of model.opset_import ?? []) {
    const d = o.domain ?? '';
    if (d === domain || (domain === '' && d === 'ai.onnx')) return int64ToNumber(o.version);
  }
  return undefined;
}

/** A node's attribute by name, or undefined. */
export function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

/** An INTS attribute as numbers ([] when absent). */
export function attributeInts(node: NodeProto, name: string): number[] {
  return (attribute(node, name)?.ints ?? []).map(int64ToNumber);
}

/**
 * Every tensor of the graph whose value is known without running it, by name: initializers,
 * Constant nodes' values, and Identity nodes of those (the exporter shares equal weights, such as
 * the all-zero biases of a fresh model, through Identity).
 */
export function graphConstants(graph: GraphProto): Map<string, TensorProto> {
  const constants = new Map<string, TensorProto>((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  for (const n of graph.node ?? []) {
    const out = n.output?.[0];
    if (!out) continue;
    const value = n.op_type === 'Constant' ? attribute(n, 'value')?.t : n.op_type === 'Identity' ? constants.get(n.input?.[0] ?? '') : undefined;
    if (value) constants.set(out, value);
  }
  return constants;
}
