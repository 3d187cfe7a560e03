import type { Embedder } from '../../core/embedder.js';
import type { ServedModelInfo } from '../../core/types.js';
import type { QuantizationRanges } from '../../core/quantization-ranges.js';

/** What the gRPC services need from the composition root; the core only through the Embedder facade. */
export interface GrpcDeps {
  embedder: Embedder;
  /** The model and the server's limits, as Info and ModelInfo report them (src/model-info.ts builds it for /info too). */
  info: () => ServedModelInfo;
  /** Largest request message in bytes (--payload-limit); larger gets RESOURCE_EXHAUSTED. */
  payloadLimit: number;
  /** --api-key: every service but health needs `authorization: Bearer <key>` metadata; empty or unset: none. */
  apiKeys?: string[];
  /** Messages of one stream handled at once. Default: enough to fill one batch (--max-batch-requests). */
  streamMaxInFlight?: number;
  /** int8/uint8 ranges (calibrated at start, or from --quantization-ranges); unset: requests must bring theirs. */
  quantization?: QuantizationRanges | null;
}
