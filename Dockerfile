# Coalesce: one process owns the model (and the GPU); concurrency comes from batching, never forking.
# CPU image:   docker build -t coalesce .
# CUDA image:  docker build --build-arg BASE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04 --build-arg CUDA_PROVIDER=1 -t coalesce:cuda .
ARG BASE=node:20-bookworm-slim

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY proto ./proto
COPY test ./test
COPY bench ./bench
RUN npx tsc -p . && npm prune --omit=dev
# Convert the embedded default model at build time so the first start is instant.
RUN node dist/scripts/convert-default-model.js
# onnxruntime-node's own CUDA download targets CUDA 12; the CUDA 13 provider for ORT 1.29.0 ships in
# com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (MIT). It is only loaded when --device cuda asks.
ARG CUDA_PROVIDER=0
RUN if [ "$CUDA_PROVIDER" = "1" ]; then \
      cd /tmp && npm pack -q com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 && tar xzf com.github.asus4.*.tgz && \
      cp package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so package/Plugins/Linux/x64/libonnxruntime_providers_shared.so \
         /app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/ && rm -rf /tmp/package /tmp/*.tgz; \
    fi

FROM ${BASE}
# The CUDA base image has no Node.js: bring the same Node 20 binary the build used.
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/proto ./proto
COPY --from=build /app/models ./models
ENV PORT=8080 GRPC_PORT=50051 UV_THREADPOOL_SIZE=16
EXPOSE 8080 50051
ENTRYPOINT ["node", "dist/src/main.js"]
