/**
 * The gRPC transport: tei.v1 (TEI-compatible), coalesce.v1 (batch fast path), grpc.health.v1
 * and server reflection, on one grpc-js server in the same process as the HTTP server.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { setMaxListeners } from 'node:events';
import type { StreamOptions } from './calls.js';
import { addCoalesceService } from './coalesce-service.js';
import { apiKeyInterceptor } from './auth.js';
import { ApiKeys } from '../api-keys.js';
import type { GrpcDeps } from './deps.js';
import { HealthService } from './health.js';
import { loadProto, PROTO_FILES } from './protos.js';
import { addReflection } from './reflection.js';
import { GracefulGoaway } from './graceful-goaway.js';
import { addTeiServices } from './tei-service.js';
import { hostPort, reachableHostPort } from '../host-port.js';
import { freeSocketPath, setSocketMode } from '../unix-socket.js';

export type { GrpcDeps } from './deps.js';

export interface GrpcServer {
  /** The TCP port; 0 on a Unix socket. */
  port: number;
  /** host:port or unix:path, as gRPC clients take it. */
  url: string;
  /** Health turns NOT_SERVING; calls are still served. */
  drain(): void;
  /**
   * Stops accepting, tells every connection to open no new call (refusing none already sent:
   * graceful-goaway.ts), ends health watches, winds the bidirectional streams down (every message
   * they took is answered, then UNAVAILABLE: calls.ts), waits up to `graceMs` for calls in
   * progress, then cuts the rest.
   */
  close(graceMs?: number): Promise<void>;
}

const DEFAULT_CLOSE_GRACE_MS = 5000;

export interface CreatedGrpcServer {
  server: Server;
  health: HealthService;
  /** Winds down every open bidirectional stream (calls.ts), and refuses streams opened from then on. */
  closeStreams(): void;
}

export function createGrpcServer(deps: GrpcDeps): CreatedGrpcServer {
  const server = new Server({
    // Oversize messages get RESOURCE_EXHAUSTED from grpc-js before they are decoded.
    'grpc.max_receive_message_length': deps.payloadLimit,
    interceptors: deps.apiKeys?.length ? [apiKeyInterceptor(new ApiKeys(deps.apiKeys))] : [],
  });
  const maxInFlight = Math.max(1, deps.streamMaxInFlight ?? Math.min(deps.info().max_batch_requests, deps.info().max_concurrent_requests));

  const closing = new AbortController();
  // Every open stream listens for the close: that is the design, not a leak.
  setMaxListeners(0, closing.signal);
  const stream: StreamOptions = { maxInFlight, closing: closing.signal };

  const health = new HealthService(deps.readiness ?? deps.embedder);
  const tei = addTeiServices(server, deps, stream);
  const coalesce = addCoalesceService(server, deps, stream);
  const healthServices = health.addTo(server);
  const served = [...tei, ...coalesce, ...healthServices];
  const reflectionServices = addReflection(
    server,
    [PROTO_FILES.tei, PROTO_FILES.coalesce, PROTO_FILES.health].map((f) => loadProto(f)),
    served,
  );
  health.register([...served, ...reflectionServices]);
  return { server, health, closeStreams: () => closing.abort() };
}

/** Serves on hostname:port, or on the Unix socket `unix.path` when given. */
export async function startGrpcServer(deps: GrpcDeps, hostname: string, port: number, unix?: { path: string; mode: string }): Promise<GrpcServer> {
  const { server, health, closeStreams } = createGrpcServer(deps);
  if (unix) await freeSocketPath(unix.path);
  const target = unix ? `unix:${unix.path}` : hostPort(hostname, port);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(target, ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
  );
  if (unix) setSocketMode(unix.path, unix.mode);
  const goaway = new GracefulGoaway(server);

  const close = async (graceMs: number) => {
    const deadline = Date.now() + graceMs;
    goaway.stopListening();
    // Health watches never end by themselves: end them first, or the connections carrying them
    // would never turn idle.
    health.shutdown();
    // quiesce() sends its first GOAWAY before its first await, so the streams end after it: a
    // client's next stream then goes to a new connection (another replica), not this one.
    const quiet = goaway.quiesce(graceMs);
    closeStreams();
    await quiet;
    await new Promise<void>((resolve) => {
      // After forceShutdown grpc-js may never call tryShutdown's callback (seen after fuzzed calls
      // with 1 ms deadlines and cancelled streams): the connections are gone either way.
      const force = setTimeout(
        () => {
          server.forceShutdown();
          resolve();
        },
        Math.max(0, deadline - Date.now()),
      );
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    goaway.destroyRemaining();
  };
  let closing: Promise<void> | null = null;
  return {
    port: unix ? 0 : bound,
    url: unix ? target : reachableHostPort(hostname, bound),
    drain: () => health.drain(),
    close: (graceMs = DEFAULT_CLOSE_GRACE_MS) => (closing ??= close(graceMs)),
  };
}
