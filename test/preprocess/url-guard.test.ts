/**
 * Image URL fetching refuses inward addresses (every form of them, behind names, after redirects)
 * unless --url-fetch-allow names them, and never tells which ports answer. Only servers on
 * 127.0.0.1 that the test starts are reached.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isCoalesceError } from '../../src/errors.js';
import { loadImageBytes } from '../../src/preprocess/image-source.js';
import { unmapped, UrlFetchPolicy } from '../../src/preprocess/url-guard.js';

const IMAGE = Buffer.from('not really an image, but bytes all the same');
let files: Server;
let port = 0;
let closedPort = 0;
before(async () => {
  files = createServer((req, res) => {
    if (req.url === '/img') return res.writeHead(200, { 'content-type': 'image/png' }).end(IMAGE);
    if (req.url === '/to-literal') return res.writeHead(302, { location: `http://127.0.0.1:${port}/img` }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
  port = (files.address() as AddressInfo).port;
  // A port that was just free: nothing listens there.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
});
after(() => {
  files.closeAllConnections();
  files.close();
});

const options = (allow: string | null) => ({ allowUrlFetch: true, fetchTimeoutMs: 10_000, fetchMaxBytes: 1_000_000, policy: new UrlFetchPolicy(allow) });
const refusal = (e: unknown) => isCoalesceError(e) && e.kind === 'validation' && /internal address/.test(e.message);

test('inward addresses in every spelling are refused, public ones permitted', () => {
  const policy = new UrlFetchPolicy(null);
  for (const a of [
    '127.0.0.1',
    '127.8.9.10',
    '10.0.0.1',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fd00::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '::127.0.0.1',
  ]) {
    assert.equal(policy.permits(a, a), false, a);
  }
  for (const a of ['8.8.8.8', '93.184.216.34', '2606:4700::1111', '::ffff:8.8.8.8']) assert.equal(policy.permits(a, a), true, a);
  assert.equal(unmapped('::ffff:7f00:1'), '127.0.0.1');
  const allowing = new UrlFetchPolicy('10.1.0.0/16, images.internal, ::1');
  assert.equal(allowing.permits('10.1.2.3', '10.1.2.3'), true);
  assert.equal(allowing.permits('10.2.0.1', '10.2.0.1'), false);
  assert.equal(allowing.permits('192.168.0.9', 'images.internal'), true);
  assert.equal(allowing.permits('::1', '[::1]'), true);
});

test('without the allow list, loopback is refused as a literal, in decimal and hex forms, as IPv6, and behind a DNS name', async () => {
  for (const url of [
    `http://127.0.0.1:${port}/img`,
    `http://2130706433:${port}/img`,
    `http://0x7f.1:${port}/img`,
    `http://[::ffff:127.0.0.1]:${port}/img`,
    `http://[::1]:${port}/img`,
    `http://localhost:${port}/img`,
  ]) {
    await assert.rejects(loadImageBytes(url, options(null), 'inputs[0]'), refusal, url);
  }
});

test('with the allow list naming the address the image is fetched; a redirect to an address it does not name is refused', async () => {
  assert.deepEqual(Buffer.from(await loadImageBytes(`http://127.0.0.1:${port}/img`, options('127.0.0.0/8'), 'inputs[0]')), IMAGE);
  // The name is allowed, the literal address it redirects to is not.
  assert.deepEqual(Buffer.from(await loadImageBytes(`http://localhost:${port}/img`, options('localhost'), 'inputs[0]')), IMAGE);
  await assert.rejects(loadImageBytes(`http://localhost:${port}/to-literal`, options('localhost'), 'inputs[0]'), refusal);
  assert.deepEqual(Buffer.from(await loadImageBytes(`http://localhost:${port}/to-literal`, options('localhost,127.0.0.1'), 'inputs[0]')), IMAGE);
});

test('a closed port and an unknown name get the same generic message', async () => {
  const messages: string[] = [];
  for (const url of [`http://127.0.0.1:${closedPort}/img`, 'http://no-such-host.invalid/img']) {
    await assert.rejects(loadImageBytes(url, options('127.0.0.1,no-such-host.invalid'), 'inputs[0]'), (e) => {
      assert.ok(isCoalesceError(e) && e.kind === 'validation');
      messages.push(e.message.replace(url, 'URL'));
      return true;
    });
  }
  assert.equal(messages[0], 'inputs[0]: could not fetch URL');
  assert.equal(messages[1], messages[0]);
});
