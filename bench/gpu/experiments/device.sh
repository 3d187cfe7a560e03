#!/usr/bin/env bash
# Device phases (after `source /tmp/gpu-kit/env.sh`): A = export + fuse, B = timings, profiles, PyTorch, nsys;
# C = timings with all outputs and with pooler_output only, launch-blocking profiles (pooler only), PyTorch.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/exp-out}; mkdir -p "$OUT"
M=/tmp/bench-siglip-base
X=bench/gpu/experiments
case "${1:?phase}" in
A) { which nsys ncu; nvidia-smi; nproc
     python3 bench/gpu/export_siglip_base.py $M test/fixtures/tiny-siglip || exit 1
     python3 $X/fuse_mha.py $M/onnx "$OUT" || exit 1
     ls -la $M/onnx; } 2>&1 | tee "$OUT/phaseA.log" ;;
B) { node $X/time_vision.mjs time
     CUDA_LAUNCH_BLOCKING=1 node $X/time_vision.mjs profile lb
     python3 $X/torch_vision.py $M "$OUT/torch.json"
     NSYS=$(command -v nsys || ls /usr/local/cuda*/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys 2>/dev/null | head -1)
     if [ -n "$NSYS" ]; then
       for g in vision_model_fp16 vision_model_mha_fp16; do
         timeout 150 "$NSYS" profile -t cuda -o /tmp/nsys-$g -f true node $X/time_vision.mjs one $g.onnx >/dev/null 2>&1
         "$NSYS" stats -r cuda_gpu_kern_sum -f csv -o "$OUT/nsys-$g" /tmp/nsys-$g.nsys-rep >/dev/null 2>&1
         echo "== nsys kernels $g (top 25)"; head -26 "$OUT"/nsys-$g*.csv | cut -c1-220
       done
     fi
     rm -f "$OUT"/prof-*.json.gz; gzip -f "$OUT"/prof-*.json; ls -la "$OUT"; } 2>&1 | tee "$OUT/phaseB.log" ;;
C) { export PROF_DIR=/tmp/traces
     node $X/time_vision.mjs time
     FETCH=pooler_output node $X/time_vision.mjs time
     FETCH=pooler_output CUDA_LAUNCH_BLOCKING=1 node $X/time_vision.mjs profile lb
     python3 $X/torch_vision.py $M "$OUT/torch.json"
     ls -la "$OUT"; } 2>&1 | grep -v 'not on CUDA\|W:onnxruntime' | tee "$OUT/phaseC.log" ;;
esac
