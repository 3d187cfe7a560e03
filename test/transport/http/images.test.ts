/**
 * Image-text models through the real server: the tiny SigLIP (transformers.js layout) and tiny
 * CLIP (optimum layout) fixtures, whose reference vectors transformers' own processors and models
 * computed (scripts/device/make_image_fixtures.py). Text cosine >= 0.9999, image cosine >= 0.999
 * (and the processor's pixels are matched exactly in test/preprocess/image.test.ts); zero-shot
 * scores with the model's logit scale and bias; bad images are 4xx and the server keeps serving;
 * URL fetching is off by default and works against 127.0.0.1 when on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import type { Coalesce } from '../../../src/server.js';
import { cosine, post, startServer } from '../../helpers/server.js';
import { call, client } from '../grpc/client.js';
import { imageBytes, pngHeaderOnly, reference, TINY_CLIP, TINY_SIGLIP, type ImageReference } from '../../helpers/image-fixtures.js';

const b64 = (file: string) => imageBytes(file).toString('base64');
const dataUri = (file: string) =>
  `data:image/${file.endsWith('.png') ? 'png' : file.endsWith('.gif') ? 'gif' : file.endsWith('.webp') ? 'webp' : 'jpeg'};base64,${b64(file)}`;

function expectError(r: { status: number; json: any }, status: number, mentions: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(typeof r.json.error, 'string');
  assert.match(r.json.error, mentions);
}

/** Every image of the reference, embedded in requests of at most `perRequest` images. */
async function embedAll(base: string, ref: ImageReference, perRequest = 3): Promise<number[][]> {
  const out: number[][] = [];
  for (let i = 0; i < ref.images.length; i += perRequest) {
    const r = await post(base, '/embed_image', { inputs: ref.images.slice(i, i + perRequest).map((x) => b64(x.file)) });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    out.push(...r.json);
  }
  return out;
}

function minCosine(got: number[][], want: number[][]): { min: number; at: number } {
  let min = Infinity;
  let at = -1;
  got.forEach((v, i) => {
    const c = cosine(v, want[i]);
    if (c < min) [min, at] = [c, i];
  });
  return { min, at };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

// SigLIP is served by two HTTP threads (--http-threads 2), CLIP on the main thread: the same tests hold for both.
for (const [dir, family, httpThreads] of [
  [TINY_SIGLIP, 'siglip', '2'],
  [TINY_CLIP, 'clip', '0'],
] as const) {
  describe(`${family} (${dir}, --http-threads ${httpThreads})`, () => {
    const ref = reference(dir);
    let server: Coalesce;
    before(async () => {
      server = await startServer(['--image-workers', '1', '--max-batch-images', '4', '--payload-limit', '400000', '--http-threads', httpThreads], dir);
    });
    after(() => server.close());

    test('texts match transformers (cosine >= 0.9999) through /embed', async () => {
      const r = await post(server.httpUrl, '/embed', { inputs: ref.sentences, truncate: true });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const { min, at } = minCosine(r.json, ref.text_embeds);
      assert.ok(min >= 0.9999, `text cosine ${min} for ${JSON.stringify(ref.sentences[at])}`);
      // Different texts stay apart: the check can fail.
      assert.ok(cosine(r.json[0], ref.text_embeds[2]) < 0.999);
    });

    test('images match transformers (cosine >= 0.999) through /embed_image, every format', async () => {
      const got = await embedAll(server.httpUrl, ref);
      for (const backend of Object.keys(ref.image_embeds)) {
        const { min, at } = minCosine(got, ref.image_embeds[backend]);
        assert.ok(min >= 0.999, `image cosine ${min} vs ${backend} for ${ref.images[at].file}`);
      }
      assert.ok(Math.abs(Math.hypot(...got[0]) - 1) < 1e-5, 'normalized by default');
      const raw = await post(server.httpUrl, '/embed_image', { inputs: b64(ref.images[0].file), normalize: false, dimensions: 8 });
      assert.equal(raw.json[0].length, 8);
    });

    test('/embed_image reports where the time went', async () => {
      const r = await post(server.httpUrl, '/embed_image', { inputs: [dataUri('photo_1024x768.jpg')] });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-compute-images'), '1');
      for (const h of ['x-decode-time', 'x-resize-time', 'x-queue-time', 'x-inference-time', 'x-total-time']) assert.ok(r.headers.get(h) !== null, h);
    });

    test("/classify_image scores labels with the model's logit scale and bias", async () => {
      const i = ref.images.findIndex((x) => x.file === 'odd_333x211.png');
      const r = await post(server.httpUrl, '/classify_image', { inputs: b64(ref.images[i].file), labels: ref.labels });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const logits = ref.logits_per_image[ref.default_backend][i];
      const expected =
        family === 'siglip' ? logits.map(sigmoid) : logits.map((l) => Math.exp(l - Math.max(...logits))).map((e, _, all) => e / all.reduce((a, b) => a + b, 0));
      const byLabel = new Map<string, number>(r.json.map((s: { label: string; score: number }) => [s.label, s.score]));
      ref.labels.forEach((label, k) => assert.ok(Math.abs(byLabel.get(label)! - expected[k]) < 2e-3, `${label}: ${byLabel.get(label)} vs ${expected[k]}`));
      const scores = r.json.map((s: { score: number }) => s.score);
      assert.deepEqual(
        scores,
        [...scores].sort((a, b) => b - a),
        'sorted, best first',
      );
      const info = (await (await fetch(server.httpUrl + '/info')).json()) as any;
      assert.ok(Math.abs(info.image.logit_scale - ref.model.logit_scale_exp) < 1e-3);
      assert.ok(Math.abs(info.image.logit_bias - ref.model.logit_bias) < 1e-3);
      assert.deepEqual(info.modalities, ['text', 'image']);
      assert.equal(info.image.vision_fused_attention, 2, 'both vision layers run as fused MultiHeadAttention');
      // After each attention and each MLP but the last one (SigLIP: post-layernorm; CLIP normalizes the pooled token instead).
      assert.equal(info.image.vision_skip_layer_norm, info.image.family === 'siglip' ? 4 : 3, 'residual + LayerNorm fused');
      // SigLIP's MLPs (two layers and the pooling head) use tanh GELU; CLIP's quick GELU is another pattern.
      assert.equal(info.image.vision_fast_gelu, info.image.family === 'siglip' ? 3 : 0, 'tanh GELU + bias fused');
      assert.equal(info.image.vision_patch_matmul, true, 'the patch embedding runs as a MatMul');
      const many = await post(server.httpUrl, '/classify_image', {
        inputs: [b64('tiny_2x2.png'), b64('grey_L_120x120.png')],
        labels: ['a', 'b'],
        hypothesis_template: 'a photo of {}',
      });
      assert.equal(many.json.length, 2);
      expectError(await post(server.httpUrl, '/classify_image', { inputs: b64('tiny_2x2.png'), labels: [] }), 422, /labels/);
      expectError(await post(server.httpUrl, '/classify_image', { inputs: b64('tiny_2x2.png'), labels: ['a'], hypothesis_template: 'no slot' }), 422, /\{\}/);
    });

    test('/info, tei.v1.Info and coalesce.v1.ModelInfo describe the same model, text and image', async () => {
      const info = (await (await fetch(server.httpUrl + '/info')).json()) as any;
      const teiInfo = client(server.grpcUrl!, 'tei', 'Info');
      const coalesce = client(server.grpcUrl!, 'coalesce', 'Coalesce');
      try {
        const tei = await call(teiInfo, 'Info', {});
        const model = await call(coalesce, 'ModelInfo', {});
        assert.deepEqual(info.modalities, ['text', 'image']);
        assert.deepEqual(model.modalities, ['text', 'image']);
        assert.equal(info.image.family, family);
        for (const field of [
          'model_id',
          'model_dtype',
          'version',
          'max_input_length',
          'max_batch_tokens',
          'max_batch_requests',
          'max_client_batch_size',
          'max_concurrent_requests',
          'tokenization_workers',
        ]) {
          assert.equal(tei[field], info[field], `tei.v1.Info ${field}`);
        }
        for (const field of [
          'model_id',
          'version',
          'dimensions',
          'max_input_length',
          'pooling',
          'normalized_by_model',
          'device',
          'execution_provider',
          'max_batch_tokens',
          'max_batch_requests',
          'max_client_batch_size',
          'max_concurrent_requests',
        ]) {
          assert.equal(model[field], info[field], `coalesce.v1.ModelInfo ${field}`);
        }
      } finally {
        teiInfo.close();
        coalesce.close();
      }
    });

    test('OpenAI /v1/embeddings takes images (modality or data: URIs), mixed with texts in order', async () => {
      const client = new OpenAI({ apiKey: 'unused', baseURL: `${server.httpUrl}/v1` });
      const img = ref.images.findIndex((x) => x.file === 'wide_320x120.jpg');
      const res = await client.embeddings.create({ model: 'm', input: [ref.sentences[0], dataUri('wide_320x120.jpg'), ref.sentences[1]] });
      assert.equal(res.data.length, 3);
      assert.ok(cosine(res.data[0].embedding, ref.text_embeds[0]) >= 0.9999);
      assert.ok(cosine(res.data[1].embedding, ref.image_embeds[ref.default_backend][img]) >= 0.999);
      assert.ok(cosine(res.data[2].embedding, ref.text_embeds[1]) >= 0.9999);
      const plain = await post(server.httpUrl, '/v1/embeddings', { input: [b64('wide_320x120.jpg')], modality: 'image' });
      assert.equal(plain.status, 200, JSON.stringify(plain.json));
      assert.ok(cosine(plain.json.data[0].embedding, ref.image_embeds[ref.default_backend][img]) >= 0.999);
      const bad = await post(server.httpUrl, '/v1/embeddings', { input: ['hello'], modality: 'image' });
      assert.equal(bad.status, 400, 'OpenAI answers invalid requests 400');
      assert.match(bad.json.error.message, /not base64/);
    });

    test('bad images get 4xx JSON errors naming the problem, and the server keeps serving', async () => {
      const jpeg = imageBytes('photo_1024x768.jpg');
      const cases: [unknown, number, RegExp][] = [
        [Buffer.from('definitely not an image').toString('base64'), 422, /not an image/],
        [jpeg.subarray(0, 20_000).toString('base64'), 422, /truncated or corrupt/],
        ['', 422, /empty/],
        ['%%%not-base64%%%', 422, /not base64/],
        [Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="5" height="5"/>').toString('base64'), 422, /unsupported image format 'svg'/],
        [pngHeaderOnly(50_000, 50_000).toString('base64'), 422, /decompression bomb/],
        [pngHeaderOnly(0, 0).toString('base64'), 422, /not an image|no pixels|could not be decoded/],
        ['http://127.0.0.1:9/x.png', 422, /--allow-url-fetch/],
        [[b64('tiny_2x2.png'), Buffer.from('nope').toString('base64')], 422, /inputs\[1\]/],
        [[], 400, /cannot be empty/],
        [[42], 422, /`inputs` must be a string or a list of strings/],
        ['A'.repeat(500_000), 413, /payload limit/],
      ];
      for (const [inputs, status, mentions] of cases) {
        expectError(await post(server.httpUrl, '/embed_image', { inputs }), status, mentions);
      }
      const ok = await post(server.httpUrl, '/embed_image', { inputs: b64('tiny_2x2.png') });
      assert.equal(ok.status, 200);
      assert.equal((await fetch(server.httpUrl + '/health')).status, 200);
    });

    test('images batch apart from texts, under --max-batch-images', async () => {
      const before = server.images!.vision.maxConcurrentBatches;
      assert.equal(before, 1);
      const files = ref.images.slice(0, 10).map((x) => x.file);
      const [imgs, texts] = await Promise.all([
        Promise.all(files.map((f) => post(server.httpUrl, '/embed_image', { inputs: b64(f) }))),
        Promise.all(ref.sentences.slice(0, 5).map((s) => post(server.httpUrl, '/embed', { inputs: s }))),
      ]);
      for (const r of [...imgs, ...texts]) assert.equal(r.status, 200);
      const metrics = await (await fetch(server.httpUrl + '/metrics')).text();
      const le4 = Number(/te_batch_next_size_bucket\{le="4"\} (\d+)/.exec(metrics)![1]);
      const all = Number(/te_batch_next_size_count (\d+)/.exec(metrics)![1]);
      assert.ok(le4 > 0 && le4 <= all);
    });
  });
}

describe('transformers.js variants (--onnx-variant)', () => {
  const ref = reference(TINY_SIGLIP);
  test('a variant the folder lacks stops the start, naming the files looked for', async () => {
    await assert.rejects(startServer(['--onnx-variant', 'q4'], TINY_SIGLIP), /onnx\/text_model_q4\.onnx \+ onnx\/vision_model_q4\.onnx/);
  });
  for (const [variant, floor] of [
    ['quantized', 0.99],
    ['fp16', 0.999],
  ] as const) {
    test(`${variant}: close to the fp32 references`, async (t) => {
      if (!ref.variants?.[`vision_model_${variant}.onnx`]) return t.skip(`no ${variant} files in the fixture`);
      const server = await startServer(['--onnx-variant', variant, '--image-workers', '0'], TINY_SIGLIP);
      try {
        const info = (await (await fetch(server.httpUrl + '/info')).json()) as any;
        assert.equal(info.image.vision_onnx, `onnx/vision_model_${variant}.onnx`);
        assert.equal(info.image.vision_input_type, 'uint8', 'images go to the graph as 8-bit RGB; it normalizes them and casts to float16 for the tower');
        const got = await embedAll(server.httpUrl, { ...ref, images: ref.images.slice(0, 6) });
        const { min } = minCosine(got, ref.image_embeds[ref.default_backend]);
        assert.ok(min >= floor, `${variant} image cosine ${min}`);
        const texts = await post(server.httpUrl, '/embed', { inputs: ref.sentences.slice(0, 5) });
        assert.ok(minCosine(texts.json, ref.text_embeds).min >= floor);
      } finally {
        await server.close();
      }
    });
  }
});

test('--fuse-attention false serves the vision tower as exported, with the same vectors', async () => {
  const ref = reference(TINY_SIGLIP);
  const server = await startServer(['--fuse-attention', 'false', '--image-workers', '0'], TINY_SIGLIP);
  try {
    const info = (await (await fetch(server.httpUrl + '/info')).json()) as any;
    assert.equal(info.image.vision_fused_attention, 0);
    assert.equal(info.image.vision_skip_layer_norm, 0);
    assert.equal(info.image.vision_fast_gelu, 0);
    const got = await embedAll(server.httpUrl, { ...ref, images: ref.images.slice(0, 4) });
    assert.ok(minCosine(got, ref.image_embeds[ref.default_backend]).min >= 0.999);
  } finally {
    await server.close();
  }
});

test('--shape-buckets on: image batches padded to bucket sizes, every bucket run at load, the same vectors', async () => {
  const ref = reference(TINY_SIGLIP);
  const server = await startServer(['--shape-buckets', 'on', '--max-batch-images', '18', '--image-workers', '0'], TINY_SIGLIP);
  try {
    const info = (await (await fetch(server.httpUrl + '/info')).json()) as any;
    assert.equal(info.image.vision_warmup.shapes, 17, 'batches of 1 to 16 images, and 20');
    // 17 images run as a batch of 20: three blank fillers whose vectors are dropped.
    const files = Array.from({ length: 17 }, (_, i) => b64(ref.images[i % ref.images.length].file));
    const together = await post(server.httpUrl, '/embed_image', { inputs: files });
    assert.equal(together.status, 200);
    for (const [i, file] of files.entries()) {
      const alone = await post(server.httpUrl, '/embed_image', { inputs: file });
      together.json[i].forEach((x: number, k: number) => assert.ok(Math.abs(x - alone.json[0][k]) < 1e-5, `image ${i} value ${k}`));
    }
  } finally {
    await server.close();
  }
});

describe('URL inputs', () => {
  let files: Server;
  let base = '';
  before(async () => {
    files = createServer((req, res) => {
      if (req.url === '/wide.jpg') return res.writeHead(200, { 'content-type': 'image/jpeg' }).end(imageBytes('wide_320x120.jpg'));
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });
  after(() => {
    files.closeAllConnections();
    files.close();
  });

  test('are refused by default and fetched with --allow-url-fetch, within its limits', async () => {
    const ref = reference(TINY_CLIP);
    const off = await startServer([], TINY_CLIP);
    try {
      expectError(await post(off.httpUrl, '/embed_image', { inputs: `${base}/wide.jpg` }), 422, /fetching URLs is off/);
    } finally {
      await off.close();
    }
    const on = await startServer(
      ['--allow-url-fetch', '--url-fetch-allow', '127.0.0.1', '--url-fetch-max-bytes', '100000', '--url-fetch-timeout-ms', '5000'],
      TINY_CLIP,
    );
    try {
      const r = await post(on.httpUrl, '/embed_image', { inputs: [`${base}/wide.jpg`] });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const i = ref.images.findIndex((x) => x.file === 'wide_320x120.jpg');
      assert.ok(cosine(r.json[0], ref.image_embeds[ref.default_backend][i]) >= 0.999);
      expectError(await post(on.httpUrl, '/embed_image', { inputs: `${base}/missing.jpg` }), 422, /HTTP 404/);
    } finally {
      await on.close();
    }
  });
});
