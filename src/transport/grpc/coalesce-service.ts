/**
 * coalesce.v1.Coalesce: the no-JSON fast path. A batch of texts per call, the vectors back as one
 * packed little-endian float32 matrix, so neither side converts floats one by one; or, when
 * asked, as int8 / uint8 / sign-bit rows (vector-encodings.ts).
 */
import type { Metadata, Server, UntypedServiceImplementation } from '@grpc/grpc-js';
import { validation } from '../../errors.js';
import type { Encoding } from '../../core/quantize.js';
import { countChars } from '../timing-headers.js';
import { packRows, vectorEncoder } from '../vector-encodings.js';
import { orderedStream, unary, type StreamOptions } from './calls.js';
import { modelFor, type GrpcDeps } from './deps.js';
import { loadProto, PROTO_FILES, serviceDefinition } from './protos.js';
import { truncationDirection } from './proto-fields.js';
import { protoMetadata, timingMetadata, type ProtoMetadata } from './timings.js';

interface EmbedBatchRequest {
  inputs: string[];
  normalize: boolean | null;
  truncate: boolean | null;
  truncation_direction: number;
  dimensions: number | null;
  prompt_name: string | null;
  encoding: number;
  ranges: { min: number[]; max: number[] } | null;
  model?: string | null;
}

interface EmbedBatchResponse {
  embeddings: Uint8Array;
  rows: number;
  dimensions: number;
  metadata: ProtoMetadata;
  encoding: number;
  row_bytes: number;
}

/** coalesce.v1.Encoding's numbers. */
const ENCODING_BY_NUMBER: readonly Encoding[] = ['float', 'int8', 'uint8', 'binary', 'ubinary'];

function encodingOf(value: number | undefined): Encoding {
  const encoding = ENCODING_BY_NUMBER[value ?? 0];
  if (!encoding) throw validation(`\`encoding\` ${value} is not a coalesce.v1.Encoding (0 to ${ENCODING_BY_NUMBER.length - 1})`, 'encoding');
  return encoding;
}

export function addCoalesceService(server: Server, deps: GrpcDeps, stream: StreamOptions): string[] {
  const file = loadProto(PROTO_FILES.coalesce);
  const served = () =>
    deps.models ? [deps.models.default.name, ...deps.models.names.filter((n) => n !== deps.models!.default.name)] : [modelFor(deps, null).name];

  /** `waitForPermit`: stream messages wait for admission (calls.ts says why) rather than being refused. */
  async function embedBatch(request: EmbedBatchRequest, signal: AbortSignal, _metadata?: Metadata, waitForPermit = false) {
    const { embedder, quantization } = modelFor(deps, request.model);
    const normalize = request.normalize ?? true;
    const dimensions = request.dimensions ?? undefined;
    const encoding = encodingOf(request.encoding);
    const ranges = request.ranges ? { min: request.ranges.min ?? [], max: request.ranges.max ?? [] } : undefined;
    const modelDimensions = embedder.info.dimensions;
    const encode = vectorEncoder({ encoding, ranges, dimensions, normalize, modelDimensions }, quantization);
    const result = await embedder.embed({
      inputs: request.inputs,
      normalize,
      truncate: request.truncate ?? undefined,
      truncationDirection: truncationDirection(request.truncation_direction),
      dimensions,
      promptName: request.prompt_name ?? undefined,
      signal,
      waitForPermit,
    });
    const packed = packRows(encode(result.vectors));
    const chars = countChars(request.inputs);
    const response: EmbedBatchResponse = {
      embeddings: packed.bytes,
      rows: result.vectors.length,
      dimensions: result.vectors.length > 0 ? result.vectors[0].length : 0,
      metadata: protoMetadata(result.timings, result.promptTokens, chars),
      encoding: request.encoding ?? 0,
      row_bytes: packed.rowBytes,
    };
    return { response, metadata: timingMetadata(result.timings, result.promptTokens, chars, embedder.info.device) };
  }

  // ModelInfoResponse's fields are named as /info's: it takes those it declares.
  const modelInfo = async (request: { model?: string | null }) => {
    const model = modelFor(deps, request.model);
    return { response: { ...model.info(), served_model_name: model.name, served_models: served() } };
  };

  server.addService(serviceDefinition(file, 'Coalesce'), {
    EmbedBatch: unary(embedBatch),
    EmbedBatchStream: orderedStream(async (r: EmbedBatchRequest, signal, metadata) => (await embedBatch(r, signal, metadata, true)).response, stream),
    ModelInfo: unary(modelInfo),
  } as UntypedServiceImplementation);
  return ['coalesce.v1.Coalesce'];
}
