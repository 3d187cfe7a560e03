#!/usr/bin/env bash
# The image benchmark in one device call, after the GPU kit is staged (the kit lives outside the repository):
#   source /tmp/gpu-kit/env.sh && bash bench/gpu/image-bench.sh
# 1. exports SigLIP-base (patch16, 224, random seeded weights) in the transformers.js layout, fp32 and
#    fp16 towers, with benchmark JPEGs and fp32 PyTorch reference vectors (bench/gpu/export_siglip_base.py);
# 2. PyTorch anchors: fp16 eager model only, and transformers' processor + model in-process
#    (bench/gpu/image_torch_anchor.py);
# 3. Coalesce on CUDA over HTTP, 64 clients, 224 x 224 then 1024 x 768 JPEGs (dist/bench/gpu/image-load.js).
# Writes image-bench.md, image-bench.json, torch-image.json and image-run.log to $OUT (default bench/results).
# About 4-6 minutes on an H100 (the export is the longest part).
set -uo pipefail
OUT=${OUT:-bench/results}
MODEL=${MODEL:-/tmp/bench-siglip-base}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "cores: $(nproc)"
  # The kit's dist may predate the image code: build what the tracked sources say (type errors elsewhere do not stop tsc emitting).
  if [ -x node_modules/.bin/tsc ]; then node_modules/.bin/tsc -p bench > /tmp/image-bench-tsc.log 2>&1 || echo "tsc reported errors (see /tmp/image-bench-tsc.log); using what it emitted"; fi
  [ -f dist/bench/gpu/image-load.js ] || { echo "dist/bench/gpu/image-load.js is missing: build with npx tsc -p bench before packing the kit"; exit 1; }
  if [ ! -f "$MODEL/onnx/vision_model_fp16.onnx" ]; then
    python3 bench/gpu/export_siglip_base.py "$MODEL" test/fixtures/tiny-siglip || exit 1
  fi
  [ -f "$OUT/torch-image.json" ] || python3 bench/gpu/image_torch_anchor.py "$MODEL" "$OUT/torch-image.json"
  node dist/bench/gpu/image-load.js --model "$MODEL" --torch "$OUT/torch-image.json" --out "$OUT" --device cuda --variant fp16 --clients 64
} 2>&1 | tee "$OUT/image-run.log"
