import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import sharp from 'sharp';
import { transferableBytes } from '../../src/workers/transferable.js';

/** Posts `bytes` with its buffer transferred; resolves with what arrived on the other side. */
async function transfer(bytes: Uint8Array): Promise<Uint8Array> {
  const { port1, port2 } = new MessageChannel();
  try {
    const arrived = new Promise<Uint8Array>((resolve) => port2.once('message', resolve));
    port1.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
    return await arrived;
  } finally {
    port1.close();
  }
}

test('a Uint8Array owning its whole buffer is transferred as it is', async () => {
  const owned = new Uint8Array([1, 2, 3]);
  assert.equal(transferableBytes(owned), owned);
  assert.deepEqual([...(await transfer(owned))], [1, 2, 3]);
  assert.equal(owned.byteLength, 0, 'detached: it was moved, not copied');
});

test('pooled Buffers, native (sharp) buffers and partial views become copies that transfer', async () => {
  const pooled = Buffer.from('abc');
  const { data: native } = await sharp({ create: { width: 4, height: 2, channels: 3, background: { r: 9, g: 8, b: 7 } } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const whole = new Uint8Array([5, 6, 7, 8]);
  const part = whole.subarray(1, 3);
  for (const [what, bytes] of [
    ['pooled', pooled],
    ['native', native],
    ['part', part],
  ] as const) {
    const expected = [...bytes];
    const ready = transferableBytes(bytes);
    assert.notEqual(ready, bytes, what);
    assert.deepEqual([...(await transfer(ready))], expected, what);
    assert.deepEqual([...bytes], expected, `${what}: the source is untouched`);
  }
  assert.deepEqual([...whole], [5, 6, 7, 8], 'the neighbours of a partial view are not detached');
});
