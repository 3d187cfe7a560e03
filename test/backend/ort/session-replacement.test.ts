/**
 * Fault injection on the real ONNX Runtime path: a session thread that dies under load is replaced
 * by a new session in the same process, the batch it was running runs again, and every client
 * gets its own correct vector.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { OrtBackend } from '../../../src/backend/ort/ort-backend.js';
import type { Coalesce } from '../../../src/server.js';
import { assertClose, post, startServer } from '../../helpers/server.js';
import { waitFor, within } from '../../helpers/wait-for.js';

let server: Coalesce;
before(async () => {
  server = await startServer(['--batch-queue', 'main']);
});
after(async () => {
  await within(server.close(), 20_000, 'close');
});

const TEXTS = ['hello world', 'a killed session thread', 'is replaced in the same process', 'x'];

test('a session thread killed under load is replaced; its batch is retried and every request gets its own vector', async () => {
  const reference = (await post(server.httpUrl, '/embed', { inputs: TEXTS })).json as number[][];
  const backend = server.backend as OrtBackend;
  const [killed] = backend.workers;
  let answered = 0;
  const results: { status: number; text: number; vector: number[] }[] = [];
  const client = async (c: number) => {
    for (let i = 0; i < 30; i++) {
      const text = (c + i) % TEXTS.length;
      const r = await post(server.httpUrl, '/embed', { inputs: TEXTS[text] });
      results.push({ status: r.status, text, vector: r.status === 200 ? r.json[0] : r.json });
      answered++;
    }
  };
  const clients = Promise.all(Array.from({ length: 6 }, (_, c) => client(c)));
  await waitFor(() => answered >= 20, { timeoutMs: 30_000, what: 'load under way' });
  // The thread dies of an uncaught error (a malformed take order makes its queue code throw) once
  // the run in progress ends: worker.terminate() landing inside ONNX Runtime's native run aborts
  // the whole process (a Node / N-API limit), which is not the failure under test.
  const died = new Promise((resolve) => killed.once('exit', resolve));
  killed.postMessage({ type: 'take' });
  await within(died, 30_000, 'the session thread to die');
  await within(clients, 60_000, 'the clients');
  assert.equal(results.length, 180);
  for (const r of results) {
    assert.equal(r.status, 200, JSON.stringify(r.vector));
    assertClose(r.vector, reference[r.text], 1e-5, 1e-4, `text ${r.text}`);
  }
  assert.notEqual(backend.workers[0], killed, 'a new session thread serves');
  assert.equal((await fetch(`${server.httpUrl}/health`)).status, 200);
});
