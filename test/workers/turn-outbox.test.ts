import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnOutbox } from '../../src/workers/turn-outbox.js';

test('messages of one event-loop turn are posted together, with their buffers; the next turn posts apart', async () => {
  const posted: { messages: number[]; transfer: ArrayBuffer[] }[] = [];
  const outbox = new TurnOutbox<number>((messages, transfer) => posted.push({ messages, transfer }));
  const a = new ArrayBuffer(4);
  outbox.push(1, [a]);
  outbox.push(2);
  outbox.push(3);
  assert.equal(posted.length, 0, 'nothing is posted within the turn');
  await new Promise((r) => setImmediate(r));
  outbox.push(4);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    posted.map((p) => p.messages),
    [[1, 2, 3], [4]],
  );
  assert.deepEqual(posted[0].transfer, [a]);
  assert.deepEqual(posted[1].transfer, []);
});
