/**
 * The gRPC server on an ephemeral port over the fake backend (fake-backend.ts): the texts that
 * reached the model are a fact the tests read (`ran`), and the backend can be held closed.
 */
import { Batcher } from '../../src/core/batcher.js';
import { Embedder } from '../../src/core/embedder.js';
import { startGrpcServer } from '../../src/transport/grpc/server.js';
import { charEncoder, FakeBackend } from './fake-backend.js';

export interface FakeGrpcOptions {
  maxConcurrentRequests?: number;
  streamMaxInFlight?: number;
  queueTimeoutMs?: number;
  /** Told of every request's end (refusals by admission included). */
  onRequestFinished?: (ok: boolean) => void;
}

export async function startFakeGrpcServer(options: FakeGrpcOptions = {}) {
  const backend = new FakeBackend();
  const batcher = new Batcher(backend, { maxBatchTokens: 100_000, maxBatchRequests: 256 });
  const maxConcurrentRequests = options.maxConcurrentRequests ?? 64;
  const embedder = new Embedder(
    backend.info,
    charEncoder,
    batcher,
    { maxClientBatchSize: 32, autoTruncate: false, queueTimeoutMs: options.queueTimeoutMs },
    maxConcurrentRequests,
    { requestStarted() {}, requestFinished: (ok) => options.onRequestFinished?.(ok) },
  );
  embedder.markReady(true);
  const info = {
    model_id: 'fake',
    model_dtype: 'float32',
    version: 'test',
    dimensions: backend.info.dimensions,
    max_input_length: backend.info.maxInputLength,
    pooling: backend.info.pooling,
    normalized_by_model: false,
    device: 'cpu',
    execution_provider: 'fake',
    modalities: ['text'] as const,
    max_concurrent_requests: maxConcurrentRequests,
    max_batch_tokens: 100_000,
    max_batch_requests: 256,
    max_client_batch_size: 32,
    tokenization_workers: 0,
  };
  const server = await startGrpcServer({ embedder, info: () => info, payloadLimit: 100_000, streamMaxInFlight: options.streamMaxInFlight }, '127.0.0.1', 0);
  /** The texts that reached the model, in order. */
  const ran = () => backend.batches.flat().map((ids) => String.fromCharCode(...ids));
  return { backend, embedder, server, ran };
}
