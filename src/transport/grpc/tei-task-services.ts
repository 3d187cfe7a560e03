/**
 * tei.v1's methods for the task models, over the Embedder facade as TEI's gRPC server serves them:
 * EmbedSparse and EmbedAll (Embed service), Predict and PredictPair (Predict), Rerank and the
 * client-streamed RerankStream (Rerank). One input (or pair) per message; streams answer in order.
 */
import type { Metadata, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Embedder } from '../../core/embedder.js';
import type { TextPair, Timings } from '../../core/types.js';
import { CoalesceError, validation } from '../../errors.js';
import { countChars } from '../timing-headers.js';
import { collected, orderedStream, unary, type StreamOptions } from './calls.js';
import { protoMetadata, timingMetadata } from './timings.js';
import { oneInput, truncateOf, truncationDirection, unset } from './proto-fields.js';

interface TextsRequest {
  inputs: string;
  truncate: boolean;
  truncation_direction: number;
  prompt_name?: string | null;
}
interface PredictRequest {
  inputs: string;
  truncate: boolean;
  raw_scores: boolean;
  truncation_direction: number;
}
interface PredictPairRequest extends Omit<PredictRequest, 'inputs'> {
  inputs: string[];
}
interface RerankRequest {
  query: string;
  texts: string[];
  truncate: boolean;
  raw_scores: boolean;
  return_text: boolean;
  truncation_direction: number;
}
interface RerankStreamRequest extends Omit<RerankRequest, 'texts'> {
  text: string;
}

export interface TaskServiceOptions {
  stream: StreamOptions;
  maxClientBatchSize: number;
}

function answered<R>(embedder: Embedder, result: { timings: Timings; promptTokens: number }, texts: readonly string[], response: R) {
  const chars = countChars(texts);
  return {
    response: { ...response, metadata: protoMetadata(result.timings, result.promptTokens, chars) },
    metadata: timingMetadata(result.timings, result.promptTokens, chars, embedder.info.device),
  };
}

/** Methods to add to tei.v1's Embed, Predict and Rerank services; `embedderOf` picks the model a call's metadata names. */
export function teiTaskMethods(embedderOf: (metadata?: Metadata) => Embedder, o: TaskServiceOptions) {
  /** One text of an EmbedSparse or EmbedAll message, as the facade takes it. */
  const textsRequest = (r: TextsRequest, signal: AbortSignal, waitForPermit: boolean) => ({
    inputs: [oneInput(r.inputs)],
    truncate: truncateOf(r.truncate),
    truncationDirection: truncationDirection(r.truncation_direction),
    promptName: unset(r.prompt_name),
    signal,
    waitForPermit,
  });

  // `waitForPermit`: stream messages wait for admission (calls.ts says why) rather than being refused.
  async function embedSparse(r: TextsRequest, signal: AbortSignal, metadata?: Metadata, waitForPermit = false) {
    const embedder = embedderOf(metadata);
    const asked = textsRequest(r, signal, waitForPermit);
    const result = await embedder.embedSparse(asked);
    return answered(embedder, result, asked.inputs, { sparse_embeddings: result.vectors[0] });
  }

  async function embedAll(r: TextsRequest, signal: AbortSignal, metadata?: Metadata, waitForPermit = false) {
    const embedder = embedderOf(metadata);
    const asked = textsRequest(r, signal, waitForPermit);
    const result = await embedder.embedAll(asked);
    return answered(embedder, result, asked.inputs, { token_embeddings: result.tokens[0].map((embeddings) => ({ embeddings })) });
  }

  async function predict(input: string | TextPair, r: Omit<PredictRequest, 'inputs'>, signal: AbortSignal, metadata?: Metadata, waitForPermit = false) {
    const embedder = embedderOf(metadata);
    const result = await embedder.predict({
      waitForPermit,
      inputs: [input],
      rawScores: r.raw_scores,
      truncate: truncateOf(r.truncate),
      truncationDirection: truncationDirection(r.truncation_direction),
      signal,
    });
    return answered(embedder, result, typeof input === 'string' ? [input] : input, { predictions: result.predictions[0] });
  }
  const single = (r: PredictRequest, signal: AbortSignal, metadata?: Metadata, wait = false) => predict(oneInput(r.inputs), r, signal, metadata, wait);
  const pair = (r: PredictPairRequest, signal: AbortSignal, metadata?: Metadata, wait = false) => {
    if (r.inputs.length !== 2) throw validation(`\`inputs\` must hold a pair of texts, not ${r.inputs.length}`, 'inputs');
    return predict([r.inputs[0], r.inputs[1]], r, signal, metadata, wait);
  };

  async function rerank(r: RerankRequest, signal: AbortSignal, metadata?: Metadata) {
    const embedder = embedderOf(metadata);
    const result = await embedder.rerank({
      query: r.query,
      texts: r.texts,
      rawScores: r.raw_scores,
      truncate: truncateOf(r.truncate),
      truncationDirection: truncationDirection(r.truncation_direction),
      signal,
    });
    const ranks = result.ranks.map((rank) => (r.return_text ? { ...rank, text: r.texts[rank.index] } : rank));
    return answered(embedder, result, [r.query, ...r.texts], { ranks });
  }

  // TEI's RerankStream: the query and options of the first message, one text per message.
  // (Decoded messages keep proto3 defaults on their prototype: read the fields, never spread.)
  const rerankStream = (messages: RerankStreamRequest[], signal: AbortSignal, metadata?: Metadata) => {
    if (messages.length === 0) throw new CoalesceError('empty', 'Input validation error: `texts` cannot be empty');
    const [first] = messages;
    const texts = messages.map((m) => m.text);
    const { query, truncate, raw_scores, return_text, truncation_direction } = first;
    return rerank({ query, texts, truncate, raw_scores, return_text, truncation_direction }, signal, metadata);
  };

  return {
    embed: {
      EmbedSparse: unary(embedSparse),
      EmbedSparseStream: orderedStream(async (r: TextsRequest, signal, metadata) => (await embedSparse(r, signal, metadata, true)).response, o.stream),
      EmbedAll: unary(embedAll),
      EmbedAllStream: orderedStream(async (r: TextsRequest, signal, metadata) => (await embedAll(r, signal, metadata, true)).response, o.stream),
    },
    predict: {
      Predict: unary(single),
      PredictPair: unary(pair),
      PredictStream: orderedStream(async (r: PredictRequest, signal, metadata) => (await single(r, signal, metadata, true)).response, o.stream),
      PredictPairStream: orderedStream(async (r: PredictPairRequest, signal, metadata) => (await pair(r, signal, metadata, true)).response, o.stream),
    },
    rerank: {
      Rerank: unary(rerank),
      RerankStream: collected(rerankStream, o.maxClientBatchSize),
    },
  } satisfies Record<string, UntypedServiceImplementation>;
}
