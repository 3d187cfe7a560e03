// The SigLIP-base vision tower alone in one CUDA session (no server): run on the GPU host after
// bench/gpu/image-bench.sh exported the model to /tmp/bench-siglip-base. Results: bench/results/gpu/vision-raw-session.md.
import * as ort from 'onnxruntime-node';
for (const f of ['vision_model_fp16.onnx', 'vision_model.onnx']) {
  for (const opt of ['all', 'disabled']) {
    const s = await ort.InferenceSession.create('/tmp/bench-siglip-base/onnx/' + f, { executionProviders: [{ name: 'cuda', deviceId: 0 }], graphOptimizationLevel: opt, intraOpNumThreads: 1, interOpNumThreads: 1 });
    const meta = s.inputMetadata[0];
    for (const b of [1, 16, 64]) {
      const px = new Float32Array(b * 3 * 224 * 224).fill(0.1);
      const t = new ort.Tensor('float32', px, [b, 3, 224, 224]);
      await s.run({ pixel_values: t }); await s.run({ pixel_values: t });
      const t0 = performance.now(); for (let i = 0; i < 10; i++) await s.run({ pixel_values: t }); const ms = (performance.now() - t0) / 10;
      console.log(f, opt, meta.type, 'batch', b, ms.toFixed(2), 'ms', (b / ms * 1000).toFixed(0), 'img/s');
    }
  }
}
