/**
 * With --http-threads, answers written before the route's listener returns (415, 404, 413 on a
 * declared length) must not meet a later listener that sets a header: that throws
 * ERR_HTTP_HEADERS_SENT in the thread and took the HTTP port down with it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Coalesce } from '../../../../src/server.js';
import { post, startServer } from '../../../helpers/server.js';
import { within } from '../../../helpers/wait-for.js';

let server: Coalesce;
before(async () => {
  server = await startServer(['--http-threads', '2', '--payload-limit', '1000']);
});
after(async () => {
  await within(server.close(), 20_000, 'close');
});

/** Sends `request` on a fresh connection and resolves with the status line (or '' when the connection closed without one). */
function raw(request: string): Promise<string> {
  const { hostname, port } = new URL(server.httpUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let data = '';
    socket.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('\r\n\r\n')) socket.end();
    });
    socket.on('error', () => resolve(data.split('\r\n')[0] ?? ''));
    socket.on('close', () => resolve(data.split('\r\n')[0] ?? ''));
    socket.write(request);
  });
}

test('bursts of early answers on many connections leave every HTTP thread serving', async () => {
  const requests = [
    'POST /embed HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{"inputs":',
    'POST /embed HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nhi',
    'GET /nope HTTP/1.1\r\nhost: x\r\n\r\n',
  ];
  for (let round = 0; round < 3; round++) {
    // Many connections held open at once put a thread over its share, so its listener asks them to close.
    const lines = await within(Promise.all(Array.from({ length: 60 }, (_, i) => raw(requests[i % 3]))), 20_000, 'the burst');
    for (const [i, line] of lines.entries()) assert.match(line, [/ 413 /, / 415 /, / 404 /][i % 3], `request ${i}: ${JSON.stringify(line)}`);
  }
  // Both threads still accept and serve: enough fresh connections that each thread gets some.
  const after = await within(
    Promise.all(Array.from({ length: 20 }, () => post(server.httpUrl, '/embed', { inputs: 'still here' }))),
    20_000,
    'the requests after',
  );
  for (const r of after) assert.equal(r.status, 200);
});
