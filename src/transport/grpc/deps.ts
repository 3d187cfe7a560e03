import type { Embedder } from '../../core/embedder.js';

/** What the gRPC services need from the composition root; the core only through the Embedder facade. */
export interface GrpcDeps {
  embedder: Embedder;
  /** Model name reported by Info (--served-model-name or the model id). */
  modelName: string;
  version: string;
  limits: {
    maxConcurrentRequests: number;
    maxBatchTokens: number;
    maxBatchRequests: number;
    maxClientBatchSize: number;
    tokenizationWorkers: number;
  };
  /** Largest request message in bytes (--payload-limit); larger gets RESOURCE_EXHAUSTED. */
  payloadLimit: number;
  /** Messages of one stream handled at once. Default: enough to fill one batch (--max-batch-requests). */
  streamMaxInFlight?: number;
}
