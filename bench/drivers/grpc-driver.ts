/**
 * gRPC driver. Default ('tei'): what a TEI gRPC client does, one unary tei.v1.Embed call per text
 * (TEI's Embed takes one input), normalize and truncate on, the request done when every text of
 * it is answered. 'batch': one coalesce.v1.EmbedBatch call per request, the packed-float fast path.
 * One channel (one HTTP/2 connection) carries every concurrent call, as a gRPC client normally
 * does. Responses are decoded and their size checked, so a broken answer fails the run.
 */
import * as grpc from '@grpc/grpc-js';
import { loadProto, PROTO_FILES, serviceDefinition } from '../../src/transport/grpc/protos.js';
import type { Driver } from './types.js';

export type GrpcApi = 'tei' | 'batch';

type Unary = (request: object, callback: (error: grpc.ServiceError | null, response: any) => void) => grpc.ClientUnaryCall;

function unary(client: grpc.Client, method: string): (request: object) => Promise<any> {
  const fn = (client as unknown as Record<string, Unary>)[method].bind(client);
  return (request) => new Promise((resolve, reject) => fn(request, (error, response) => (error ? reject(error) : resolve(response))));
}

export async function grpcDriver(target: string, options: { api?: GrpcApi } = {}): Promise<Driver> {
  const api = options.api ?? 'tei';
  const file = loadProto(api === 'tei' ? PROTO_FILES.tei : PROTO_FILES.coalesce);
  const service = api === 'tei' ? 'Embed' : 'Coalesce';
  const Client = grpc.makeGenericClientConstructor(serviceDefinition(file, service), service);
  const client = new Client(target, grpc.credentials.createInsecure(), {
    // Big batches of wide vectors can pass the default 4 MB client limit.
    'grpc.max_receive_message_length': -1,
  });
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())));

  let embed: (texts: string[]) => Promise<void>;
  if (api === 'tei') {
    const call = unary(client, 'Embed');
    embed = async (texts) => {
      const responses = await Promise.all(texts.map((inputs) => call({ inputs, normalize: true, truncate: true })));
      for (const r of responses) if (!(r.embeddings?.length > 0)) throw new Error('tei.v1.Embed answered without a vector');
    };
  } else {
    const call = unary(client, 'EmbedBatch');
    embed = async (texts) => {
      const r = await call({ inputs: texts, normalize: true, truncate: true });
      if (r.rows !== texts.length || r.embeddings.length !== r.rows * r.dimensions * 4) {
        throw new Error(`EmbedBatch answered ${r.rows} rows x ${r.dimensions} in ${r.embeddings.length} bytes for ${texts.length} texts`);
      }
    };
  }
  return { embed, close: () => client.close() };
}
