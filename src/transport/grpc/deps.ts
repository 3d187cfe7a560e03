import type { Metadata } from '@grpc/grpc-js';
import type { Embedder } from '../../core/embedder.js';
import type { ServedModelInfo } from '../../core/types.js';
import type { QuantizationRanges } from '../../core/quantization-ranges.js';
import { ModelRegistry } from '../../core/model-registry.js';

/** One served model as the gRPC services see it. */
export interface GrpcModel {
  name: string;
  embedder: Embedder;
  info: () => ServedModelInfo;
  /** Its int8/uint8 ranges (calibrated at start, or from --quantization-ranges). */
  quantization?: QuantizationRanges | null;
}

/** The metadata key that selects a model on tei.v1 calls (as the x-model header on TEI's HTTP routes). */
export const MODEL_METADATA = 'x-model';

/** The model a call's metadata names (tei.v1 has no field for it). */
export function metadataModel(metadata: Metadata | undefined): string | undefined {
  const value = metadata?.get(MODEL_METADATA)[0];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** What the gRPC services need from the composition root; the core only through the Embedder facade. */
export interface GrpcDeps {
  embedder: Embedder;
  /** The model and the server's limits, as Info and ModelInfo report them (src/model-info.ts builds it for /info too). */
  info: () => ServedModelInfo;
  /** Largest request message in bytes (--payload-limit); larger gets RESOURCE_EXHAUSTED. */
  payloadLimit: number;
  /** --api-key: every service but health needs `authorization: Bearer <key>` metadata; empty or unset: none. */
  apiKeys?: string[];
  /** What grpc.health.v1 reports (every model ready); unset: the default embedder's readiness. */
  readiness?: Pick<Embedder, 'isReady' | 'onReadyChange'>;
  /** Every model served (several); `embedder` and `info` are the default one's. Unset: that one model only. */
  models?: ModelRegistry<GrpcModel>;
  /** Messages of one stream handled at once. Default: enough to fill one batch (--max-batch-requests). */
  streamMaxInFlight?: number;
  /** int8/uint8 ranges (calibrated at start, or from --quantization-ranges); unset: requests must bring theirs. */
  quantization?: QuantizationRanges | null;
}

/** The model a call names (unset or empty: the default); unknown names are not_found, naming the served ones. */
export function modelFor(deps: GrpcDeps, name: string | null | undefined): GrpcModel {
  if (deps.models) return deps.models.get(name);
  const only: GrpcModel = {
    name: String(deps.info().served_model_name ?? deps.info().model_id),
    embedder: deps.embedder,
    info: deps.info,
    quantization: deps.quantization,
  };
  if (name && name !== only.name) return new ModelRegistry([only]).get(name);
  return only;
}
