/**
 * coalesce.v1.Coalesce: the no-JSON fast path. A batch of texts per call, the vectors back as one
 * packed little-endian float32 matrix, so neither side converts floats one by one.
 */
import type { Server, UntypedServiceImplementation } from '@grpc/grpc-js';
import { vectorsToPackedFloat32 } from '../packed-float32.js';
import { countChars } from '../timing-headers.js';
import { orderedStream, unary } from './calls.js';
import type { GrpcDeps } from './deps.js';
import { loadProto, PROTO_FILES, serviceDefinition } from './protos.js';
import { truncationDirection } from './tei-service.js';
import { protoMetadata, timingMetadata, type ProtoMetadata } from './timings.js';

interface EmbedBatchRequest {
  inputs: string[];
  normalize: boolean | null;
  truncate: boolean | null;
  truncation_direction: number;
  dimensions: number | null;
  prompt_name: string | null;
}

interface EmbedBatchResponse {
  embeddings: Uint8Array;
  rows: number;
  dimensions: number;
  metadata: ProtoMetadata;
}

export function addCoalesceService(server: Server, deps: GrpcDeps, streamMaxInFlight: number): string[] {
  const { embedder } = deps;
  const file = loadProto(PROTO_FILES.coalesce);

  /** `waitForPermit`: stream messages wait for admission (calls.ts says why) rather than being refused. */
  async function embedBatch(request: EmbedBatchRequest, signal: AbortSignal, waitForPermit = false) {
    const result = await embedder.embed({
      inputs: request.inputs,
      normalize: request.normalize ?? true,
      truncate: request.truncate ?? undefined,
      truncationDirection: truncationDirection(request.truncation_direction),
      dimensions: request.dimensions ?? undefined,
      promptName: request.prompt_name ?? undefined,
      signal,
      waitForPermit,
    });
    const { bytes, dimensions } = vectorsToPackedFloat32(result.vectors);
    const chars = countChars(request.inputs);
    const response: EmbedBatchResponse = {
      embeddings: bytes,
      rows: result.vectors.length,
      dimensions,
      metadata: protoMetadata(result.timings, result.promptTokens, chars),
    };
    return { response, metadata: timingMetadata(result.timings, result.promptTokens, chars, embedder.info.device) };
  }

  // ModelInfoResponse's fields are named as /info's: it takes those it declares.
  const modelInfo = async () => ({ response: deps.info() });

  server.addService(serviceDefinition(file, 'Coalesce'), {
    EmbedBatch: unary(embedBatch),
    EmbedBatchStream: orderedStream(async (r: EmbedBatchRequest, signal) => (await embedBatch(r, signal, true)).response, { maxInFlight: streamMaxInFlight }),
    ModelInfo: unary(modelInfo),
  } as UntypedServiceImplementation);
  return ['coalesce.v1.Coalesce'];
}
