/** `npm start` with no arguments: the embedded default model, served end to end. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startCoalesce, type Coalesce } from '../../src/server.js';
import { cosine, post } from '../helpers/server.js';
import { DEFAULT_MODEL_CONVERSION_TIMEOUT_MS, TEST_DEFAULT_MODEL_DIR } from '../helpers/default-model.js';

let server: Coalesce;
before(
  async () => {
    // No --model; the default model's folder is one outside the checkout.
    server = await startCoalesce(
      loadConfig(['--port', '0', '--grpc-port', '0', '--hostname', '127.0.0.1', '--default-model-dir', TEST_DEFAULT_MODEL_DIR], {}),
      silentLogger,
    );
  },
  { timeout: DEFAULT_MODEL_CONVERSION_TIMEOUT_MS },
);
after(() => server.close());

test('with no --model the server serves the embedded default model', async () => {
  const info = (await (await fetch(server.httpUrl + '/info')).json()) as { model_id: string; model_dir: string; dimensions: number; output: string };
  assert.equal(info.model_dir, TEST_DEFAULT_MODEL_DIR);
  assert.equal(info.dimensions, 100);
  assert.equal(info.output, 'sentence_embedding');
  assert.equal((await fetch(server.httpUrl + '/health')).status, 200);
});

test('sentences about similar things come out closer than unrelated ones', async () => {
  const triples = [
    ['A cat sat on the mat.', 'A kitten rested on the rug.', 'Stock markets fell sharply today.'],
    ['The doctor treated the patient at the hospital.', 'A nurse cared for the sick man in the clinic.', 'The band played guitar and drums all night.'],
    ['He cooked pasta with tomato sauce for dinner.', 'She baked bread and made soup in the kitchen.', 'The rocket reached orbit after launch.'],
    [
      'Interest rates were raised by the central bank.',
      'Inflation pushed the bank to tighten monetary policy.',
      'The children built a sandcastle at the beach.',
    ],
  ];
  for (const [a, b, c] of triples) {
    const { status, json } = await post(server.httpUrl, '/embed', { inputs: [a, b, c] });
    assert.equal(status, 200);
    const near = cosine(json[0], json[1]);
    const far = cosine(json[0], json[2]);
    assert.ok(near > far, `"${a}" should be nearer "${b}" (${near.toFixed(3)}) than "${c}" (${far.toFixed(3)})`);
  }
});

test('a batch gives the same vectors as singles, and empty or unknown-only texts do not break it', async () => {
  const texts = ['Hello, world!', 'zzqxv blorptastic', '', 'The quick brown fox jumps over the lazy dog.'];
  const together = await post(server.httpUrl, '/embed', { inputs: texts });
  assert.equal(together.status, 200);
  for (const [i, t] of texts.entries()) {
    const alone = await post(server.httpUrl, '/embed', { inputs: t });
    assert.ok(
      alone.json[0].every((x: number, k: number) => Math.abs(x - together.json[i][k]) < 1e-6),
      `text ${i}`,
    );
  }
  assert.ok(together.json[0].every(Number.isFinite));
});

test('/tokenize keeps accents and case in token text, with UTF-8 byte offsets, as TEI', async () => {
  const text = 'Crème Brûlée 🙂 café';
  const { status, json } = await post(server.httpUrl, '/tokenize', { inputs: text, add_special_tokens: false });
  assert.equal(status, 200);
  assert.deepEqual(
    json[0].map((t: { text: string; start: number; stop: number }) => [t.text, t.start, t.stop]),
    [
      ['Crème', 0, 6],
      ['Brûlée', 7, 15],
      ['🙂', 16, 20],
      ['café', 21, 26],
    ],
  );
  const embedded = await post(server.httpUrl, '/embed', { inputs: text });
  assert.equal(embedded.headers.get('x-compute-characters'), String([...text].length));
});
