/** The image facade and zero-shot scoring with fakes: shared admission, validation, images batch by count. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Admission } from '../../src/core/admission.js';
import { Batcher } from '../../src/core/batcher.js';
import { ImageEmbedder } from '../../src/core/image-embedder.js';
import type { ImageBackend, ImageLoader, PreparedImage, PreprocessedImage, VisionModelInfo } from '../../src/core/image-types.js';
import type { BatchResult } from '../../src/core/types.js';
import { scoreLabels } from '../../src/core/zero-shot.js';
import { isCoalesceError } from '../../src/errors.js';
import { waitFor } from '../helpers/wait-for.js';

const INFO: VisionModelInfo = {
  dimensions: 3,
  height: 1,
  width: 1,
  padded: false,
  device: 'cpu',
  provider: 'fake',
  onnxFile: 'fake',
  outputName: 'out',
  inputType: 'uint8',
  warmup: { shapes: 0, ms: 0 },
};

class FakeVision implements ImageBackend {
  readonly info = INFO;
  maxConcurrentBatches = 1;
  readonly batches: number[] = [];
  async embed(batch: { inputs: readonly PreprocessedImage[] }): Promise<BatchResult> {
    this.batches.push(batch.inputs.length);
    await new Promise((r) => setTimeout(r, 5));
    return { vectors: batch.inputs.map((i) => Float32Array.from([i.pixels[0], 1, 0])) };
  }
  async close(): Promise<void> {}
}

/** Decodes "n" to a 1 x 1 image of value n; "hold" waits for release(). */
class FakeLoader implements ImageLoader {
  private gate: (() => void) | null = null;
  release(): void {
    this.gate?.();
  }
  async prepare(input: string): Promise<PreparedImage> {
    if (input === 'hold') await new Promise<void>((r) => (this.gate = r));
    const v = Number(input);
    return { pixels: Uint8Array.from([v, v, v]), bytes: input.length, decodeMs: 0, resizeMs: 0 };
  }
  async close(): Promise<void> {}
}

function make(admission = new Admission(8), maxBatchImages = 4) {
  const vision = new FakeVision();
  const loader = new FakeLoader();
  const batcher = new Batcher<PreprocessedImage>(vision, { maxBatchTokens: maxBatchImages, maxBatchRequests: 64 }, () => 1);
  const images = new ImageEmbedder(INFO, loader, batcher, { maxClientBatchSize: 16 }, admission);
  images.markReady(true);
  return { images, vision, loader, admission };
}

const kindOf = (e: unknown) => (isCoalesceError(e) ? e.kind : String(e));

test('every image costs 1 of --max-batch-images, whatever its request', async () => {
  const { images, vision } = make(undefined, 4);
  const results = await Promise.all([
    images.embed({ inputs: ['1', '2', '3'], normalize: false }),
    ...[4, 5, 6, 7, 8, 9, 10].map((n) => images.embed({ inputs: [String(n)], normalize: false })),
  ]);
  assert.deepEqual(
    results[0].vectors.map((v) => v[0]),
    [1, 2, 3],
  );
  assert.equal(results[7].vectors[0][0], 10);
  assert.equal(
    vision.batches.reduce((a, b) => a + b, 0),
    10,
  );
  assert.ok(
    vision.batches.every((n) => n <= 4),
    `batches ${vision.batches}`,
  );
  assert.ok(
    vision.batches.some((n) => n > 1),
    'concurrent requests share batches',
  );
});

test('images take permits from the one Admission the text path uses', async () => {
  const shared = new Admission(1);
  const { images, loader } = make(shared);
  const held = images.embed({ inputs: ['hold'], normalize: true });
  await waitFor(() => shared.inUse === 1, { what: 'the held request taking the one permit' });
  await assert.rejects(images.embed({ inputs: ['1'], normalize: true }), (e) => kindOf(e) === 'overloaded');
  assert.throws(
    () => shared.acquire(),
    (e) => kindOf(e) === 'overloaded',
    'a text request is refused too',
  );
  loader.release();
  await held;
  assert.equal(shared.inUse, 0);
});

test('image requests are validated before any decoding', async () => {
  const { images } = make();
  await assert.rejects(images.embed({ inputs: [], normalize: true }), (e) => kindOf(e) === 'empty');
  await assert.rejects(
    images.embed({ inputs: Array(17).fill('1'), normalize: true }),
    (e) => kindOf(e) === 'over_limit' && /max-client-batch-size/.test((e as Error).message),
  );
  await assert.rejects(images.embed({ inputs: ['1'], normalize: true, dimensions: 4 }), (e) => kindOf(e) === 'over_limit');
  images.markReady(false);
  await assert.rejects(images.embed({ inputs: ['1'], normalize: true }), (e) => kindOf(e) === 'unhealthy');
});

test('zero-shot scores: sigmoid per label (SigLIP), softmax over labels (CLIP), best first', () => {
  const img = [Float32Array.from([1, 0])];
  const labels = [Float32Array.from([1, 0]), Float32Array.from([0, 1])];
  const sig = scoreLabels(img, labels, ['a', 'b'], { kind: 'sigmoid', scale: 10, bias: -5 })[0];
  assert.deepEqual(
    sig.map((s) => s.label),
    ['a', 'b'],
  );
  assert.ok(Math.abs(sig[0].score - 1 / (1 + Math.exp(-5))) < 1e-12);
  assert.ok(Math.abs(sig[1].score - 1 / (1 + Math.exp(5))) < 1e-12);
  const soft = scoreLabels(img, labels, ['a', 'b'], { kind: 'softmax', scale: 2, bias: 0 })[0];
  assert.ok(Math.abs(soft[0].score + soft[1].score - 1) < 1e-12);
  assert.ok(Math.abs(soft[0].score - Math.exp(2) / (Math.exp(2) + 1)) < 1e-12);
});
