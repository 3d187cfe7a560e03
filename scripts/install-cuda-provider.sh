#!/usr/bin/env bash
# Puts the ONNX Runtime CUDA execution provider beside onnxruntime-node's native binding, so
# `coalesce --device cuda` runs on an NVIDIA GPU. onnxruntime-node's own installer fetches a
# CUDA 12 build from a feed that is often unreachable; this uses the npm package
# com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (MIT): ONNX Runtime 1.29.0 providers built for
# CUDA 13 + cuDNN 9, which load only into onnxruntime-node 1.29.0 (pinned in package.json).
# The machine also needs the NVIDIA driver, the CUDA 13 libraries and cuDNN 9 on the library path.
set -euo pipefail
cd "$(dirname "$0")/.."
ORT_VERSION=$(node -p "require('onnxruntime-node/package.json').version")
[ "$ORT_VERSION" = "1.29.0" ] || { echo "onnxruntime-node is $ORT_VERSION; this provider build needs exactly 1.29.0" >&2; exit 2; }
DEST=$(node -p "require('path').join(require('path').dirname(require.resolve('onnxruntime-node/package.json')), 'bin/napi-v6', process.platform, process.arch)")
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "the CUDA provider package is for linux x64 only" >&2; exit 2; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack -q com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 >/dev/null && tar xzf com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz)
cp "$TMP"/package/Plugins/Linux/x64/libonnxruntime_providers_shared.so "$TMP"/package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so "$DEST/"
echo "CUDA provider installed in $DEST"
echo "check: node dist/src/main.js --device cuda  (it fails at start, naming what is missing, if CUDA 13 or cuDNN 9 cannot be found)"
