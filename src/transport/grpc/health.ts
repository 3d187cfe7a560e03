/**
 * grpc.health.v1.Health: SERVING exactly when the embedder is ready (model loaded and warmed up,
 * not draining), for the whole server ("") and for each service it serves.
 */
import { status, type Server, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Embedder } from '../../core/embedder.js';
import { MalformedMessage, loadProto, PROTO_FILES, serviceDefinition } from './protos.js';

const SERVING = 1;
const NOT_SERVING = 2;
const SERVICE_UNKNOWN = 3;

/** Readiness has no change event; watchers are few, so one shared poll is cheap enough. */
const WATCH_POLL_MS = 100;

interface HealthCheckRequest {
  service: string;
}

interface Watcher {
  call: ServerWritableStream<unknown, { status: number }>;
  service: string;
  last: number;
}

export class HealthService {
  private readonly services = new Set<string>(['']);
  private readonly watchers = new Set<Watcher>();
  private poll: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly embedder: Pick<Embedder, 'isReady'>) {}

  /** Services Check and Watch answer for; others are unknown. */
  register(names: readonly string[]): void {
    for (const name of names) this.services.add(name);
  }

  addTo(server: Server): string[] {
    const file = loadProto(PROTO_FILES.health);
    server.addService(serviceDefinition(file, 'Health'), {
      Check: (call: ServerUnaryCall<HealthCheckRequest | MalformedMessage, unknown>, callback: sendUnaryData<unknown>) => this.check(call, callback),
      Watch: (call: ServerWritableStream<HealthCheckRequest | MalformedMessage, { status: number }>) => this.watch(call),
    } as UntypedServiceImplementation);
    return ['grpc.health.v1.Health'];
  }

  private current(service: string): number {
    if (!this.services.has(service)) return SERVICE_UNKNOWN;
    return this.embedder.isReady && !this.stopped ? SERVING : NOT_SERVING;
  }

  private check(call: ServerUnaryCall<HealthCheckRequest | MalformedMessage, unknown>, callback: sendUnaryData<unknown>): void {
    const request = call.request;
    if (request instanceof MalformedMessage) return callback({ code: status.INVALID_ARGUMENT, details: request.reason });
    const state = this.current(request.service);
    if (state === SERVICE_UNKNOWN) return callback({ code: status.NOT_FOUND, details: `unknown service ${JSON.stringify(request.service)}` });
    callback(null, { status: state });
  }

  private watch(call: ServerWritableStream<HealthCheckRequest | MalformedMessage, { status: number }>): void {
    const request = call.request;
    if (request instanceof MalformedMessage) {
      call.emit('error', { code: status.INVALID_ARGUMENT, details: request.reason });
      return;
    }
    // The protocol keeps the stream open even for an unknown service: it may be registered later.
    const watcher: Watcher = { call, service: request.service, last: this.current(request.service) };
    call.write({ status: watcher.last });
    if (this.stopped) {
      call.end();
      return;
    }
    this.watchers.add(watcher);
    call.on('cancelled', () => this.unwatch(watcher));
    this.poll ??= setInterval(() => this.notify(), WATCH_POLL_MS).unref();
  }

  private notify(): void {
    for (const w of this.watchers) {
      const now = this.current(w.service);
      if (now !== w.last) {
        w.last = now;
        w.call.write({ status: now });
      }
    }
  }

  private unwatch(watcher: Watcher): void {
    this.watchers.delete(watcher);
    if (this.watchers.size === 0 && this.poll) {
      clearInterval(this.poll);
      this.poll = null;
    }
  }

  /** Tells every watcher NOT_SERVING and ends its stream, so a graceful shutdown does not wait on them. */
  shutdown(): void {
    this.stopped = true;
    this.notify();
    for (const w of [...this.watchers]) {
      this.unwatch(w);
      w.call.end();
    }
  }
}
