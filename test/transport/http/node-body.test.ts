import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { isCoalesceError } from '../../../src/errors.js';
import { closeSignal, incomingText } from '../../../src/transport/http/node-body.js';
import { within } from '../../helpers/fake-backend.js';

const LIMIT = 64;

/** A server whose /echo answers with the body it read, and /wait with how it ended. */
async function start(): Promise<{ url: string; server: Server; aborted: Promise<string>; waiting: Promise<void> }> {
  let reportAbort: (how: string) => void = () => {};
  const aborted = new Promise<string>((r) => (reportAbort = r));
  let reportWaiting: () => void = () => {};
  const waiting = new Promise<void>((r) => (reportWaiting = r));
  const server = createServer(async (req, res) => {
    let text: string;
    try {
      text = await incomingText(req, LIMIT);
    } catch (e) {
      res.writeHead(isCoalesceError(e) && e.kind === 'payload_too_large' ? 413 : 500, { connection: 'close' });
      res.end(String(e));
      return;
    }
    if (req.url === '/echo') return void res.end(`[${text}]`);
    const signal = closeSignal(res);
    reportWaiting();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    reportAbort('aborted');
    res.end('late');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, aborted, waiting };
}

function send(url: string, path: string, body: string, chunked = false): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) };
    const req = request(`${url}${path}`, { method: 'POST', headers }, (res) => {
      let text = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => (text += d))
        .on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    if (chunked) {
      req.write(body.slice(0, 3));
      req.end(body.slice(3));
    } else req.end(body);
  });
}

test('bodies are read from the Node stream, UTF-8 with a BOM dropped, chunked or not', async () => {
  const { url, server } = await start();
  try {
    assert.deepEqual(await send(url, '/echo', '{"inputs":"héllo"}'), { status: 200, text: '[{"inputs":"héllo"}]' });
    assert.deepEqual(await send(url, '/echo', '\ufeff{"a":1}'), { status: 200, text: '[{"a":1}]' });
    assert.deepEqual(await send(url, '/echo', '{"chunked":true}', true), { status: 200, text: '[{"chunked":true}]' });
    assert.deepEqual(await send(url, '/echo', ''), { status: 200, text: '[]' });
  } finally {
    server.close();
  }
});

test('bodies over the payload limit get 413, by Content-Length or while streaming', async () => {
  const { url, server } = await start();
  try {
    const big = 'x'.repeat(LIMIT + 1);
    assert.equal((await send(url, '/echo', big)).status, 413);
    assert.equal((await send(url, '/echo', big, true)).status, 413);
    assert.equal((await send(url, '/echo', 'x'.repeat(LIMIT))).status, 200);
  } finally {
    server.close();
  }
});

test('closeSignal aborts when the client closes the connection before the answer', async () => {
  const { url, server, aborted, waiting } = await start();
  try {
    const req = request(`${url}/wait`, { method: 'POST', headers: { 'content-length': 2 } });
    req.on('error', () => {});
    req.end('{}');
    await waiting;
    req.destroy();
    assert.equal(await within(aborted, 5000, 'the close signal'), 'aborted');
  } finally {
    server.close();
  }
});
