/** A real @grpc/grpc-js client for the served protos, with promise-returning unary calls. */
import * as grpc from '@grpc/grpc-js';
import { loadProto, PROTO_FILES, serviceDefinition } from '../../../src/transport/grpc/protos.js';

export type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function client(target: string, file: keyof typeof PROTO_FILES, service: string, options: grpc.ClientOptions = {}): Client {
  const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(loadProto(PROTO_FILES[file]), service), service);
  return new Ctor(target, grpc.credentials.createInsecure(), options) as unknown as Client;
}

export function call<T = any>(c: Client, method: string, request: object, options: grpc.CallOptions = {}, metadata = new grpc.Metadata()): Promise<T> {
  return new Promise((resolve, reject) => {
    (c[method] as Function).call(c, request, metadata, options, (error: grpc.ServiceError | null, response: T) => (error ? reject(error) : resolve(response)));
  });
}

/** Like call(), also returning the response headers. */
export function callWithHeaders<T = any>(c: Client, method: string, request: object): Promise<{ response: T; headers: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    const pending = (c[method] as Function).call(c, request, (error: grpc.ServiceError | null, response: T) =>
      error ? reject(error) : resolve({ response, headers }),
    ) as grpc.ClientUnaryCall;
    pending.on('metadata', (m: grpc.Metadata) => (headers = m));
  });
}

/** The error a call failed with; fails the test when it succeeded. */
export async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error('the call succeeded but was expected to fail');
}

/** Writes every request, half-closes, and collects the responses (or the stream's error). */
export function duplex<T = any>(c: Client, method: string, requests: object[], options: grpc.CallOptions = {}): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const stream = (c[method] as Function).call(c, new grpc.Metadata(), options) as grpc.ClientDuplexStream<object, T>;
    const out: T[] = [];
    stream.on('data', (m: T) => out.push(m));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
    (async () => {
      for (const r of requests) {
        if (!stream.write(r)) await new Promise((ok) => stream.once('drain', ok));
      }
      stream.end();
    })();
  });
}

export const { status } = grpc;
