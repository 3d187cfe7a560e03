/**
 * Work bounds on the text paths: inputs over the character bound are refused or cut before
 * tokenizing, /decode is bounded like /embed. Over --http-threads too, where plain texts are
 * encoded on arrival.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CHARS_PER_TOKEN } from '../../../src/core/embedder.js';
import type { Coalesce } from '../../../src/server.js';
import { post, startServer } from '../../helpers/server.js';

let server: Coalesce;
let maxLength: number;
let limit: number;
before(async () => {
  server = await startServer(['--max-client-batch-size', '4', '--http-threads', '1', '--auto-truncate', 'false']);
  maxLength = ((await (await fetch(server.httpUrl + '/info')).json()) as { max_input_length: number }).max_input_length;
  limit = maxLength * MAX_CHARS_PER_TOKEN;
});
after(() => server.close());

test('a text over the character bound is 422 naming the bound when not truncating, and embeds when truncating', async () => {
  const long = 'word '.repeat(Math.ceil((limit + 1) / 5));
  const refused = await post(server.httpUrl, '/embed', { inputs: ['short', long] });
  assert.equal(refused.status, 422, JSON.stringify(refused.json));
  assert.match(refused.json.error, new RegExp(`\`inputs\\[1\\]\` must have at most ${limit} characters`));
  const tokenized = await post(server.httpUrl, '/tokenize', { inputs: long });
  assert.equal(tokenized.status, 422);

  const cut = await post(server.httpUrl, '/embed', { inputs: long, truncate: true });
  assert.equal(cut.status, 200, JSON.stringify(cut.json));
  // Cut to the bound and then to the max input length: the same vector as the text cut by hand.
  const byHand = await post(server.httpUrl, '/embed', { inputs: long.slice(0, limit), truncate: true });
  assert.deepEqual(cut.json, byHand.json);
  const left = await post(server.httpUrl, '/embed', { inputs: long, truncate: true, truncation_direction: 'Left' });
  assert.equal(left.status, 200);
});

test('/decode refuses more lists than --max-client-batch-size and lists longer than the max input length', async () => {
  const ok = await post(server.httpUrl, '/decode', { ids: [[1, 2, 3]] });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  const many = await post(server.httpUrl, '/decode', { ids: Array.from({ length: 5 }, () => [1, 2]) });
  assert.equal(many.status, 422);
  assert.match(many.json.error, /at most 4 lists/);
  const long = await post(server.httpUrl, '/decode', { ids: Array.from({ length: maxLength + 1 }, () => 1) });
  assert.equal(long.status, 422);
  assert.match(long.json.error, new RegExp(`at most ${maxLength} ids`));
});
