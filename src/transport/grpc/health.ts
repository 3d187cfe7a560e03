/**
 * grpc.health.v1.Health from grpc-health-check: SERVING exactly when the embedder is ready (model
 * loaded and warmed up, not draining), for the whole server ("") and for each service it serves.
 */
import type { sendUnaryData, Server, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { clip } from '../../errors.js';
import { MAX_DETAILS } from './errors.js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Embedder } from '../../core/embedder.js';

type Watch = ServerWritableStream<unknown, unknown>;

export class HealthService {
  private readonly health = new HealthImplementation();
  /** Each service the server answers for, with the status last given to the library. */
  private readonly services = new Map<string, ServingStatus | null>([['', null]]);
  /** Open Watch streams: the library never ends them, and a graceful shutdown would wait on them. */
  private readonly watches = new Set<Watch>();
  private readonly unsubscribe: () => void;
  private stopped = false;

  constructor(private readonly embedder: Pick<Embedder, 'isReady' | 'onReadyChange'>) {
    this.unsubscribe = embedder.onReadyChange(() => this.publish());
    this.publish();
  }

  /** Services Check and Watch answer for; others are unknown. */
  register(names: readonly string[]): void {
    for (const name of names) if (!this.services.has(name)) this.services.set(name, null);
    this.publish();
  }

  addTo(server: Server): string[] {
    this.health.addToServer({
      addService: (definition, implementation) =>
        server.addService(definition, {
          ...implementation,
          // The library's NOT_FOUND quotes the whole service name the client sent.
          check: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
            (implementation.check as (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void)(call, (error, value) =>
              callback(error ? { ...error, details: clip(error.details ?? '', MAX_DETAILS) } : error, value),
            ),
          watch: (call: Watch) => {
            (implementation.watch as (call: Watch) => void)(call);
            if (this.stopped) return call.end();
            this.watches.add(call);
            call.on('cancelled', () => this.watches.delete(call));
          },
        }),
    });
    return ['grpc.health.v1.Health'];
  }

  private publish(): void {
    const status: ServingStatus = this.embedder.isReady && !this.stopped ? 'SERVING' : 'NOT_SERVING';
    // The library tells a service's watchers on every setStatus, changed or not.
    for (const [service, last] of this.services) {
      if (last === status) continue;
      this.services.set(service, status);
      this.health.setStatus(service, status);
    }
  }

  /** NOT_SERVING from now on (the server is draining), told to watchers, whose streams stay open. */
  drain(): void {
    this.stopped = true;
    this.publish();
  }

  /** Tells every watcher NOT_SERVING and ends its stream, so a graceful shutdown does not wait on them. */
  shutdown(): void {
    this.stopped = true;
    this.unsubscribe();
    this.publish();
    for (const call of this.watches) call.end();
    this.watches.clear();
  }
}
