/**
 * tei.v1: TEI 1.9.3's gRPC services over the Embedder facade. Request semantics follow TEI's
 * gRPC server: one input per message, proto3 defaults as TEI reads them (an unset `normalize`
 * is true, `add_special_tokens` is false unless set), streams answer in request order. The
 * task methods (sparse, token vectors, predict, rerank) are in tei-task-services.ts; a method the
 * model's kind does not serve answers FAILED_PRECONDITION naming what the model is, as TEI.
 */
import type { Server, UntypedServiceImplementation } from '@grpc/grpc-js';
import { countChars } from '../timing-headers.js';
import { orderedStream, unary, type StreamOptions } from './calls.js';
import { metadataModel, modelFor, type GrpcDeps } from './deps.js';
import type { Metadata } from '@grpc/grpc-js';
import { loadProto, PROTO_FILES, serviceDefinition } from './protos.js';
import { protoMetadata, timingMetadata, type ProtoMetadata } from './timings.js';
import { teiTaskMethods } from './tei-task-services.js';
import { oneInput, truncateOf, truncationDirection, unset } from './proto-fields.js';
import type { ModelKind } from '../../core/model-kind.js';

/** proto3 `optional` fields decode as null (or absent) when unset. */
interface EmbedRequest {
  inputs: string;
  truncate: boolean;
  normalize?: boolean | null;
  truncation_direction: number;
  prompt_name?: string | null;
  dimensions?: number | null;
}

interface EmbedResponse {
  embeddings: Float32Array;
  metadata: ProtoMetadata;
}

interface EncodeRequest {
  inputs: string;
  add_special_tokens: boolean;
  prompt_name?: string | null;
}

interface SimpleToken {
  id: number;
  text: string;
  special: boolean;
  start?: number;
  stop?: number;
}

interface DecodeRequest {
  ids: number[];
  skip_special_tokens: boolean;
}

/** tei.v1.ModelType; the kinds TEI has no value for report as embedding models, as TEI reports SPLADE. */
const MODEL_TYPE: Record<ModelKind, number> = { embedding: 0, classifier: 1, reranker: 2, sparse: 0, 'multi-vector': 0 };

export function addTeiServices(server: Server, deps: GrpcDeps, stream: StreamOptions): string[] {
  const file = loadProto(PROTO_FILES.tei);
  /** tei.v1 serves the default model, or the one the call's x-model metadata names. */
  const modelOf = (metadata: Metadata | undefined) => modelFor(deps, metadataModel(metadata));

  /** `waitForPermit`: stream messages wait for admission (calls.ts says why) rather than being refused. */
  async function embed(request: EmbedRequest, signal: AbortSignal, metadata?: Metadata, waitForPermit = false) {
    const { embedder } = modelOf(metadata);
    const text = oneInput(request.inputs);
    const result = await embedder.embed({
      inputs: [text],
      // TEI >= 1.8: `optional bool normalize`, unset means true.
      normalize: unset(request.normalize) ?? true,
      truncate: truncateOf(request.truncate),
      truncationDirection: truncationDirection(request.truncation_direction),
      dimensions: unset(request.dimensions),
      promptName: unset(request.prompt_name),
      signal,
      waitForPermit,
    });
    const chars = countChars([text]);
    const response: EmbedResponse = { embeddings: result.vectors[0], metadata: protoMetadata(result.timings, result.promptTokens, chars) };
    return { response, metadata: timingMetadata(result.timings, result.promptTokens, chars, embedder.info.device) };
  }

  async function tokenize(request: EncodeRequest, _signal?: AbortSignal, metadata?: Metadata) {
    const { embedder } = modelOf(metadata);
    const [tokens] = await embedder.tokenize({
      inputs: [oneInput(request.inputs)],
      addSpecialTokens: request.add_special_tokens,
      promptName: unset(request.prompt_name),
    });
    return {
      tokens: tokens.map((t): SimpleToken => {
        const token: SimpleToken = { id: t.id, text: t.text, special: t.special };
        if (t.start !== null) token.start = t.start;
        if (t.stop !== null) token.stop = t.stop;
        return token;
      }),
    };
  }

  async function decode(request: DecodeRequest, _signal?: AbortSignal, metadata?: Metadata) {
    const { embedder } = modelOf(metadata);
    // No ids is no input, as over HTTP: the embedder answers 'empty'.
    const [text] = await embedder.decode(request.ids.length > 0 ? [request.ids] : [], request.skip_special_tokens);
    return { text };
  }

  // InfoResponse's fields are named as /info's: it takes those it declares; model_type is its enum.
  const info = async (_request: unknown, _signal: AbortSignal, metadata: Metadata) => {
    const model = modelOf(metadata);
    return { response: { ...model.info(), model_type: MODEL_TYPE[model.embedder.info.kind] } };
  };
  const tasks = teiTaskMethods((metadata) => modelOf(metadata).embedder, { stream, maxClientBatchSize: deps.info().max_client_batch_size });

  server.addService(serviceDefinition(file, 'Info'), { Info: unary(info) } as UntypedServiceImplementation);
  server.addService(serviceDefinition(file, 'Embed'), {
    Embed: unary(embed),
    EmbedStream: orderedStream(async (r: EmbedRequest, signal, metadata) => (await embed(r, signal, metadata, true)).response, stream),
    ...tasks.embed,
  } as UntypedServiceImplementation);
  server.addService(serviceDefinition(file, 'Predict'), tasks.predict as UntypedServiceImplementation);
  server.addService(serviceDefinition(file, 'Rerank'), tasks.rerank as UntypedServiceImplementation);
  server.addService(serviceDefinition(file, 'Tokenize'), {
    Tokenize: unary(async (r: EncodeRequest, signal, metadata) => ({ response: await tokenize(r, signal, metadata) })),
    TokenizeStream: orderedStream(tokenize, stream),
    Decode: unary(async (r: DecodeRequest, signal, metadata) => ({ response: await decode(r, signal, metadata) })),
    DecodeStream: orderedStream(decode, stream),
  } as UntypedServiceImplementation);
  return ['tei.v1.Info', 'tei.v1.Embed', 'tei.v1.Predict', 'tei.v1.Rerank', 'tei.v1.Tokenize'];
}
