/**
 * A client that cancels streams faster than Node's HTTP/2 rapid-reset guard allows (CVE-2023-44487:
 * a burst of 1,000 RST_STREAMs per connection, then 33 a second) loses that connection, with
 * INTERNAL on its calls: the guard, not a handler fault. Other connections and the server are unaffected.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { Coalesce } from '../../../src/server.js';
import { startServer } from '../../helpers/server.js';
import { within } from '../../helpers/wait-for.js';
import { call, client } from './client.js';

let server: Coalesce;
before(async () => {
  server = await startServer();
});
after(async () => {
  await within(server.close(), 20_000, 'close');
});

const identity = (b: Buffer) => b;
/** EmbedRequest { inputs: "hi" }. */
const HI = Buffer.from([0x0a, 2, 0x68, 0x69]);

/** One stream, cancelled by the client once the server answered its first message; resolves with the status the client saw. */
function cancelledStream(raw: grpc.Client): Promise<grpc.status> {
  return new Promise((resolve) => {
    const s = raw.makeBidiStreamRequest('/tei.v1.Embed/EmbedStream', identity, identity, new grpc.Metadata(), { deadline: Date.now() + 30_000 });
    s.on('data', () => s.cancel());
    s.on('error', (e: grpc.ServiceError) => resolve(e.code));
    s.on('status', (st: grpc.StatusObject) => resolve(st.code));
    s.write(HI);
  });
}

test("a connection that resets streams past Node's rapid-reset guard is the only one closed; the server keeps serving", async (t) => {
  const own = { 'grpc.use_local_subchannel_pool': 1 };
  const abuser = new grpc.Client(server.grpcUrl!, grpc.credentials.createInsecure(), own);
  const codes = new Map<grpc.status, number>();
  try {
    const until = Date.now() + 30_000;
    for (let i = 0; i < 2500 && Date.now() < until && !codes.has(grpc.status.INTERNAL); i++) {
      const code = await cancelledStream(abuser);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
  } finally {
    abuser.close();
  }
  t.diagnostic(`statuses seen: ${JSON.stringify(Object.fromEntries(codes))}`);
  for (const code of codes.keys()) assert.ok([grpc.status.CANCELLED, grpc.status.INTERNAL].includes(code), `unexpected ${grpc.status[code]}`);
  // A well-behaved client on a connection of its own is served, and health says SERVING.
  const embed = client(server.grpcUrl!, 'tei', 'Embed', own);
  const health = client(server.grpcUrl!, 'health', 'Health', own);
  try {
    const reply = await within(call(embed, 'Embed', { inputs: 'still serving' }), 10_000, 'a call on a fresh connection');
    assert.ok(reply.embeddings.length > 0);
    assert.equal((await within(call(health, 'Check', { service: '' }))).status, 1);
  } finally {
    embed.close();
    health.close();
  }
  assert.equal((await fetch(`${server.httpUrl}/health`)).status, 200);
});
