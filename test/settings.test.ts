import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../src/config.js';
import { INT8_GRAPHS, resolveModelFiles, resolveSettings, resolveTokenizationWorkers, type Facts } from '../src/settings.js';

const CPU: Facts = { provider: 'cpu', modelMaxLength: 512 };
const CUDA: Facts = { provider: 'cuda', modelMaxLength: 512 };
const resolve = (args: string[], facts: Facts) => resolveSettings(loadConfig(args, {}), facts);

test('the defaults become what each provider runs best with', () => {
  assert.deepEqual(resolve([], CPU), {
    sessions: 1,
    shapeBuckets: false,
    padSeqMultiple: 1,
    padBatchMultiple: 1,
    memPattern: true,
    batchQueue: 'main',
    intraOpThreads: null,
    maxInputLength: 512,
    dtype: 'float32',
  });
  assert.deepEqual(resolve([], CUDA), {
    sessions: 2,
    shapeBuckets: true,
    padSeqMultiple: 32,
    padBatchMultiple: 1,
    memPattern: true,
    batchQueue: 'shared',
    intraOpThreads: 1,
    maxInputLength: 512,
    dtype: 'float32',
  });
});

test('sequence padding: 32 with shape buckets, 8 on CUDA without them, none on CPU; a given multiple wins', () => {
  assert.equal(resolve(['--shape-buckets', 'off'], CUDA).padSeqMultiple, 8);
  assert.equal(resolve(['--shape-buckets', 'on'], CPU).padSeqMultiple, 32);
  assert.equal(resolve(['--shape-buckets', 'on', '--pad-seq-multiple', '16'], CUDA).padSeqMultiple, 16);
  assert.equal(resolve(['--pad-seq-multiple', '4'], CPU).padSeqMultiple, 4);
});

test('given values are kept: sessions, batch queue, memory pattern, batch padding', () => {
  const cpu = resolve(['--sessions', '3', '--batch-queue', 'shared', '--mem-pattern', 'off', '--pad-batch-multiple', '8'], CPU);
  assert.deepEqual([cpu.sessions, cpu.batchQueue, cpu.memPattern, cpu.padBatchMultiple], [3, 'shared', false, 8]);
  assert.equal(resolve(['--batch-queue', 'main'], CUDA).batchQueue, 'main');
  assert.equal(resolve(['--shape-buckets', 'off'], CUDA).shapeBuckets, false);
});

test('intra-op threads: one on CUDA (the CPU only does shape arithmetic), ORT default or the given count on CPU', () => {
  assert.equal(resolve(['--intra-op-threads', '4'], CPU).intraOpThreads, 4);
  assert.equal(resolve(['--intra-op-threads', '4'], CUDA).intraOpThreads, 1);
  assert.equal(resolve([], CPU).intraOpThreads, null);
});

test('--max-input-length caps the model limit and never raises it', () => {
  assert.equal(resolve(['--max-input-length', '128'], CPU).maxInputLength, 128);
  assert.equal(resolve(['--max-input-length', '4096'], CPU).maxInputLength, 512);
  assert.equal(resolve([], { provider: 'cpu', modelMaxLength: 64 }).maxInputLength, 64);
});

test('--dtype float16 picks the fp16 files: onnx/model_fp16.onnx, or the fp16 variant of image-text towers', () => {
  assert.deepEqual(resolveModelFiles(loadConfig(['--dtype', 'float16'], {}), false), { onnxFile: 'onnx/model_fp16.onnx', onnxVariant: null });
  assert.deepEqual(resolveModelFiles(loadConfig(['--dtype', 'float16'], {}), true), { onnxFile: null, onnxVariant: 'fp16' });
  assert.deepEqual(resolveModelFiles(loadConfig(['--onnx-file', 'm.onnx'], {}), false), { onnxFile: 'm.onnx', onnxVariant: null });
  assert.deepEqual(resolveModelFiles(loadConfig(['--onnx-variant', 'q8'], {}), true), { onnxFile: null, onnxVariant: 'q8' });
  assert.equal(resolve(['--dtype', 'float16'], CPU).dtype, 'float16');
});

test('--dtype int8 picks the first pre-quantized graph the folder has, or the int8 tower variant; none is a clear error', () => {
  const int8 = loadConfig(['--dtype', 'int8'], {});
  const has =
    (...files: string[]) =>
    (f: string) =>
      files.includes(f);
  assert.deepEqual(resolveModelFiles(int8, false, has('model.onnx', 'onnx/model_quantized.onnx', 'onnx/model_int8.onnx')), {
    onnxFile: 'onnx/model_int8.onnx',
    onnxVariant: null,
  });
  assert.equal(resolveModelFiles(int8, false, has('model.onnx', 'model_quantized.onnx')).onnxFile, 'model_quantized.onnx');
  assert.equal(resolveModelFiles(int8, false, has('onnx/model.onnx', 'onnx/model_quint8_avx2.onnx')).onnxFile, 'onnx/model_quint8_avx2.onnx');
  assert.throws(
    () => resolveModelFiles(int8, false, has('model.onnx', 'onnx/model_fp16.onnx')),
    (e: Error) => e.message.includes(INT8_GRAPHS.join(', ')) && /--quantize dynamic-int8/.test(e.message),
  );
  assert.equal(resolveModelFiles(int8, true, has('onnx/text_model_quantized.onnx', 'onnx/vision_model_quantized.onnx')).onnxVariant, 'quantized');
  assert.equal(resolveModelFiles(int8, true, has('onnx/text_model_int8.onnx', 'onnx/text_model_quantized.onnx')).onnxVariant, 'int8');
  assert.equal(resolve(['--dtype', 'int8'], CPU).dtype, 'int8');
});

test('--quantize dynamic-int8 serves int8: model_dtype says so', () => {
  assert.equal(resolve(['--quantize', 'dynamic-int8'], CPU).dtype, 'int8');
  assert.equal(resolve(['--quantize', 'dynamic-int8-per-channel'], CPU).dtype, 'int8');
  assert.equal(resolve(['--quantize', 'none'], CPU).dtype, 'float32');
});

test('--tokenization-workers auto tokenizes on one worker thread with two cores or more, inline on one core; numbers are taken as given', () => {
  assert.equal(resolveTokenizationWorkers('auto', 2), 1);
  assert.equal(resolveTokenizationWorkers('auto', 16), 1);
  assert.equal(resolveTokenizationWorkers('auto', 1), 0);
  assert.equal(resolveTokenizationWorkers('0', 16), 0);
  assert.equal(resolveTokenizationWorkers('3', 1), 3);
  assert.equal(loadConfig([], {}).tokenizationWorkers, 'auto');
  assert.throws(() => loadConfig(['--tokenization-workers', 'many'], {}), /tokenization-workers/);
});
