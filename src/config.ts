/**
 * The one configuration schema. Every option is a flag and an environment variable with a
 * documented default; `--help`, docs/configuration.md and `/info` all come from this table.
 * Precedence: flag > environment variable > default. Flags are parsed by commander; values are
 * checked here, so an error names the flag or the variable it came from. What `auto` and `0`
 * mean is decided in one place, src/settings.ts.
 */
import { Command, CommanderError, Option } from 'commander';
import { TEI_FLAGS } from './tei-flags.js';

export type OptionType = 'string' | 'int' | 'bool';

export interface OptionSpec<T> {
  flag: string;
  env: string;
  type: OptionType;
  default: T;
  doc: string;
  /** Allowed values for string options (the option's type is their union). */
  choices?: readonly string[];
  /** Other spellings of allowed values, e.g. TEI's `last-token`. */
  valueAliases?: Readonly<Record<string, string>>;
  /** Shape string options must have, with the forms named in the error. */
  pattern?: { re: RegExp; forms: string };
  min?: number;
  /** More flags for the same option (TEI's names): `--model-id`, `-p`. */
  aliases?: readonly string[];
  /** More environment variables for the same option, read after `env`. */
  envAliases?: readonly string[];
  /** Never shown by /info. */
  secret?: boolean;
  /** The flag may be given several times; its values are joined with `;` (as its variable separates them). */
  repeatable?: boolean;
}

type ChoiceSpec<C extends readonly string[], D> = Omit<OptionSpec<D>, 'choices'> & { type: 'string'; choices: C };

/** An option whose choices make its type: `choices: ['a', 'b']` gives `'a' | 'b'` (and null when the default is null). */
function opt<const C extends readonly string[], D extends C[number] | null>(spec: ChoiceSpec<C, D>): OptionSpec<C[number] | (null extends D ? null : never)>;
function opt<T>(spec: OptionSpec<T>): OptionSpec<T>;
function opt(spec: OptionSpec<unknown>): OptionSpec<unknown> {
  return spec;
}

/** --device: `cuda` is GPU 0; a comma-separated list (or cuda:all) is one device group each (src/backend/ort/device.ts). */
export type Device = string;

export const OPTIONS = {
  model: opt<string | null>({
    flag: '--model',
    env: 'MODEL_ID',
    type: 'string',
    default: null,
    aliases: ['--model-id'],
    repeatable: true,
    doc: 'Model folder, or a Hugging Face Hub id (org/name). Unset: the embedded default model (models/default, converted by npm ci). Repeat it (or separate models with ;) to serve several models from this process, each as [name=]path[,option=value...], e.g. bge=BAAI/bge-small-en-v1.5,device=cuda:0,sessions=2 (docs/multi-model.md).',
  }),
  modelsFile: opt<string | null>({
    flag: '--models-file',
    env: 'MODELS_FILE',
    type: 'string',
    default: null,
    doc: 'A YAML or JSON file listing the models to serve, each with a name, a path and per-model options (docs/multi-model.md). Not together with --model.',
  }),
  defaultModel: opt<string | null>({
    flag: '--default-model',
    env: 'DEFAULT_MODEL',
    type: 'string',
    default: null,
    doc: 'With several models: the served name of the model that TEI routes, tei.v1 and requests naming no model get. Unset: the first model given.',
  }),
  maxDeviceMemory: opt<string | null>({
    flag: '--max-device-memory',
    env: 'MAX_DEVICE_MEMORY',
    type: 'string',
    default: null,
    pattern: { re: /^\d+(\.\d+)?\s*([KMGT]i?B|B)?$/i, forms: 'a size in bytes, or with a unit such as 512MiB, 40GiB, 80GB' },
    doc: 'Memory budget of each device (each GPU; the CPU for cpu models): start is refused, naming the models, when the weights of the models placed on one device would exceed it. Estimated before loading from the weight files (one copy per session), so it leaves activations out. Unset: no check.',
  }),
  defaultModelDir: opt<string | null>({
    flag: '--default-model-dir',
    env: 'DEFAULT_MODEL_DIR',
    type: 'string',
    default: null,
    doc: 'Where the embedded default model is converted to on first start and read from, when --model is unset. Unset: models/default in the installation folder.',
  }),
  revision: opt<string>({
    flag: '--revision',
    env: 'REVISION',
    type: 'string',
    default: 'main',
    doc: 'Hub revision (branch, tag or commit) when --model is a Hub id.',
  }),
  hubEndpoint: opt<string>({
    flag: '--hub-endpoint',
    env: 'HF_ENDPOINT',
    type: 'string',
    default: 'https://huggingface.co',
    doc: 'Base URL of the Hugging Face Hub (or a mirror).',
  }),
  hubCache: opt<string | null>({
    flag: '--huggingface-hub-cache',
    env: 'HUGGINGFACE_HUB_CACHE',
    type: 'string',
    default: null,
    doc: 'Where Hub downloads are kept. Unset: ~/.cache/huggingface/hub.',
  }),
  hubToken: opt<string | null>({
    flag: '--hf-token',
    env: 'HF_TOKEN',
    type: 'string',
    default: null,
    secret: true,
    aliases: ['--hf-api-token'],
    envAliases: ['HF_API_TOKEN'],
    doc: 'Bearer token for private Hub repositories. Never shown in /info.',
  }),
  hubOffline: opt<boolean>({
    flag: '--hub-offline',
    env: 'HF_HUB_OFFLINE',
    type: 'bool',
    default: false,
    doc: 'Never call the Hub: serve a Hub id from the cache, or fail when it is not cached. Without it, a cached copy still serves when the Hub is unreachable.',
  }),
  onnxFile: opt<string | null>({
    flag: '--onnx-file',
    env: 'ONNX_FILE',
    type: 'string',
    default: null,
    doc: 'ONNX file inside the model folder (e.g. onnx/model_fp16.onnx). Unset: model.onnx, then onnx/model.onnx.',
  }),
  dtype: opt({
    flag: '--dtype',
    env: 'DTYPE',
    type: 'string',
    default: null,
    choices: ['float32', 'float16', 'int8'],
    doc: "Weights to load, as TEI's --dtype. float16: onnx/model_fp16.onnx (image-text models: the fp16 variant); int8 (CPU only): the model's pre-quantized graph, the first of onnx/model_int8.onnx, onnx/model_quantized.onnx, model_quantized.onnx, onnx/model_uint8.onnx and sentence-transformers' onnx/model_q(u)int8_<cpu>.onnx (image-text models: the int8, quantized or uint8 variant); a Hub download fetches that file. Start fails when the model has no such file. float32: the default files. Not together with --onnx-file or --onnx-variant.",
  }),
  quantize: opt({
    flag: '--quantize',
    env: 'QUANTIZE',
    type: 'string',
    default: 'none',
    choices: ['none', 'dynamic-int8', 'dynamic-int8-per-channel'],
    doc: "dynamic-int8 (CPU only, text models): at load, rewrite the float32 graph's MatMuls with constant weights as onnxruntime's quantize_dynamic does (int8 weights with one scale per weight, activations quantized to uint8 per call, integer GEMM), cached with the other prepared graphs; speed and fidelity measured in docs/cpu-int8.md. dynamic-int8-per-channel: the same with one scale per output column (quantize_dynamic's per_channel), for weights whose columns differ in range. none: serve the graph as it is.",
  }),
  pooling: opt({
    flag: '--pooling',
    env: 'POOLING',
    type: 'string',
    default: null,
    choices: ['mean', 'cls', 'max', 'last_token', 'splade'],
    valueAliases: { 'last-token': 'last_token' },
    doc: 'Override the pooling of token-level outputs. Unset: from 1_Pooling/config.json, else mean. splade (as TEI): a masked-language model served as a sparse model on /embed_sparse.',
  }),
  device: opt<Device>({
    flag: '--device',
    env: 'DEVICE',
    type: 'string',
    default: 'cpu',
    pattern: { re: /^(auto|cuda:all|(cpu|cuda(:\d+)?)(,(cpu|cuda(:\d+)?))*)$/, forms: 'cpu, cuda, cuda:N, auto, cuda:all, or a list such as cuda:0,cuda:1' },
    doc: "Where the model runs: cpu, cuda (GPU 0), cuda:N, or auto (CUDA when its provider loads, else CPU). A comma-separated list (cuda:0,cuda:1), or cuda:all (every GPU the NVIDIA driver lists), runs one copy of the model per device, all taking batches from the model's one queue (docs/multi-model.md); cpu,cpu makes two CPU groups. CUDA needs the ONNX Runtime CUDA provider (scripts/install-cuda-provider.sh), CUDA 13 and cuDNN 9; cuda fails at start with what is missing, auto falls back and says why.",
  }),
  sessions: opt<number>({
    flag: '--sessions',
    env: 'SESSIONS',
    type: 'int',
    default: 0,
    min: 0,
    doc: 'Model sessions, each in its own worker thread of this one process, running batches side by side. Each holds one copy of the weights on the device. 0: 2 on CUDA (one batch uploads while another computes), 1 on CPU.',
  }),
  poolInGraph: opt<boolean>({
    flag: '--pool-in-graph',
    env: 'POOL_IN_GRAPH',
    type: 'bool',
    default: true,
    doc: 'Append pooling to graphs that output token states, so only one vector per input leaves the session. false: pool on the host.',
  }),
  padSeqMultiple: opt<number>({
    flag: '--pad-seq-multiple',
    env: 'PAD_SEQ_MULTIPLE',
    type: 'int',
    default: 0,
    min: 0,
    doc: "Pad each batch's sequence length up to a multiple of this, so the runtime meets fewer distinct shapes. 0: 32 with shape buckets (--shape-buckets), else 8 on CUDA and 1 (none) on CPU.",
  }),
  memPattern: opt({
    flag: '--mem-pattern',
    env: 'MEM_PATTERN',
    type: 'string',
    default: 'auto',
    choices: ['auto', 'on', 'off'],
    doc: "ONNX Runtime memory pattern planning (per input shape). auto: ONNX Runtime's default (on).",
  }),
  shapeBuckets: opt({
    flag: '--shape-buckets',
    env: 'SHAPE_BUCKETS',
    type: 'string',
    default: 'auto',
    choices: ['auto', 'on', 'off'],
    doc: 'Pad batches to a small set of shapes (sequence length to a multiple of 32 or --pad-seq-multiple, inputs per batch to 1, 2, 4, 8, 16, then multiples of 8 up to 64, then four steps per doubling) and run each once per session at start, since the CUDA provider pays ~60 ms the first time it meets a shape. auto: on with CUDA, off on CPU.',
  }),
  cudaGraphs: opt({
    flag: '--cuda-graphs',
    env: 'CUDA_GRAPHS',
    type: 'string',
    default: 'off',
    choices: ['on', 'off'],
    doc: "on: with CUDA and shape buckets, each session thread also opens the text model through ONNX Runtime's C API with CUDA graphs and captures the bucket shapes of up to --cuda-graph-tokens padded tokens at load; batches of those shapes replay a graph (BERT-base fp16, one short text on an H100: 0.53 ms a run against 1.18 ms). Costs a second copy of the weights on the device per session, and each captured shape keeps its own buffers. A model whose graph cannot be captured is served without, and /info says why.",
  }),
  cudaGraphTokens: opt<number>({
    flag: '--cuda-graph-tokens',
    env: 'CUDA_GRAPH_TOKENS',
    type: 'int',
    default: 1024,
    min: 1,
    doc: 'With --cuda-graphs on: the largest batch, in padded tokens (inputs x padded length), whose bucket shapes are captured. Small batches are where kernel launches, not compute, set the time; a larger value captures more shapes at load and keeps more device memory.',
  }),
  shapeWarmup: opt({
    flag: '--shape-warmup',
    env: 'SHAPE_WARMUP',
    type: 'string',
    default: 'load',
    choices: ['load', 'background'],
    doc: "With shape buckets on: when their shapes are warmed. load: every shape before /health turns 200. background: the common ones (up to 128 tokens, up to 32 inputs) before, the rest one at a time while serving, whenever a session has no batch; /info's warmup shows the progress.",
  }),
  padBatchMultiple: opt<number>({
    flag: '--pad-batch-multiple',
    env: 'PAD_BATCH_MULTIPLE',
    type: 'int',
    default: 0,
    min: 0,
    doc: 'Pad each batch with one-token filler rows up to a multiple of this many inputs. 0: 1 (none).',
  }),
  intraOpThreads: opt<number>({
    flag: '--intra-op-threads',
    env: 'INTRA_OP_THREADS',
    type: 'int',
    default: 0,
    min: 0,
    doc: 'ONNX Runtime intra-op threads for the model. 0: one per core.',
  }),
  hostname: opt<string>({ flag: '--hostname', env: 'HOSTNAME_BIND', type: 'string', default: '0.0.0.0', doc: 'Address the HTTP and gRPC servers bind.' }),
  port: opt<number>({ flag: '--port', env: 'PORT', type: 'int', default: 8080, min: 0, aliases: ['-p'], doc: 'HTTP port (0: any free port).' }),
  grpcPort: opt<number>({
    flag: '--grpc-port',
    env: 'GRPC_PORT',
    type: 'int',
    default: 50051,
    min: -1,
    doc: 'gRPC port (tei.v1, coalesce.v1, health, reflection) on the same address as HTTP. 0: any free port; -1: no gRPC server.',
  }),
  udsPath: opt<string | null>({
    flag: '--uds-path',
    env: 'UDS_PATH',
    type: 'string',
    default: null,
    doc: 'Serve HTTP on this Unix domain socket instead of --hostname:--port. A stale socket left by a crashed run is replaced; a regular file or a socket a live server answers on is refused. Removed on exit.',
  }),
  grpcUdsPath: opt<string | null>({
    flag: '--grpc-uds-path',
    env: 'GRPC_UDS_PATH',
    type: 'string',
    default: null,
    doc: 'Serve gRPC on this Unix domain socket instead of --hostname:--grpc-port (same rules as --uds-path).',
  }),
  udsMode: opt<string>({
    flag: '--uds-mode',
    env: 'UDS_MODE',
    type: 'string',
    default: '0660',
    pattern: { re: /^0?[0-7]{3}$/, forms: 'an octal file mode such as 0660' },
    doc: 'File mode of the Unix sockets (octal): who may connect. 0660: the owner and its group.',
  }),
  shutdownGraceMs: opt<number>({
    flag: '--shutdown-grace',
    env: 'SHUTDOWN_GRACE_MS',
    type: 'int',
    default: 5000,
    min: 0,
    doc: 'On SIGTERM / SIGINT, milliseconds during which /health answers 503 (gRPC health NOT_SERVING) while everything is still served, so load balancers and Kubernetes endpoints take the replica out first. Then the listeners close, everything admitted is answered, and the process exits 0.',
  }),
  shutdownTimeoutMs: opt<number>({
    flag: '--shutdown-timeout',
    env: 'SHUTDOWN_TIMEOUT_MS',
    type: 'int',
    default: 10000,
    min: 0,
    doc: 'After the grace, the longest wait for admitted requests and open connections to finish; then the rest are cut and the process exits 1. A second signal cuts at once.',
  }),
  idleHeapReleaseMs: opt<number>({
    flag: '--idle-heap-release',
    env: 'IDLE_HEAP_RELEASE_MS',
    type: 'int',
    default: 5000,
    min: 0,
    doc: 'Milliseconds a thread that serves HTTP (the main thread, each --http-threads thread) must be idle (no request in progress, event loop busy under 5 % of the time) before one full garbage collection hands back the JavaScript heap it grew under load; only when at least 16 MiB of that heap lies unused. V8 by itself keeps it long after traffic stops (docs/operations.md). 0: never.',
  }),
  maxBatchTokens: opt<number>({
    flag: '--max-batch-tokens',
    env: 'MAX_BATCH_TOKENS',
    type: 'int',
    default: 16384,
    min: 1,
    doc: 'Token budget of one model call, padding included (batch size x longest input).',
  }),
  maxBatchRequests: opt<number>({
    flag: '--max-batch-requests',
    env: 'MAX_BATCH_REQUESTS',
    type: 'int',
    default: 256,
    min: 1,
    doc: 'Most inputs in one model call.',
  }),
  batchQueue: opt({
    flag: '--batch-queue',
    env: 'BATCH_QUEUE',
    type: 'string',
    default: 'auto',
    choices: ['auto', 'shared', 'main'],
    doc: "Where text batches are formed. shared: texts wait in shared memory and each session thread takes its next batch the moment it is free; main: the main thread forms batches and sends them to the sessions. auto: shared with CUDA, main on the CPU (where one session's run already takes every core, and the shared queue measured no faster). Image batches are always formed on the main thread.",
  }),
  maxConcurrentRequests: opt<number>({
    flag: '--max-concurrent-requests',
    env: 'MAX_CONCURRENT_REQUESTS',
    type: 'int',
    default: 512,
    min: 1,
    doc: 'Requests admitted at once; beyond it clients get 429 at once.',
  }),
  queueTimeoutMs: opt<number>({
    flag: '--queue-timeout',
    env: 'QUEUE_TIMEOUT_MS',
    type: 'int',
    default: 0,
    min: 0,
    doc: "Default deadline of every embedding request, in milliseconds from its arrival (0: none). A request not answered by then gets 504 (gRPC DEADLINE_EXCEEDED) and its inputs still queued are dropped before they reach the model. A client's own deadline (the gRPC deadline, or the HTTP header x-request-timeout-ms) applies when it is sooner.",
  }),
  maxClientBatchSize: opt<number>({
    flag: '--max-client-batch-size',
    env: 'MAX_CLIENT_BATCH_SIZE',
    type: 'int',
    default: 32,
    min: 1,
    doc: 'Most inputs in one request.',
  }),
  maxInputLength: opt<number>({
    flag: '--max-input-length',
    env: 'MAX_INPUT_LENGTH',
    type: 'int',
    default: 0,
    min: 0,
    doc: "Cap on tokens per input. 0: the model's own limit (tokenizer / config).",
  }),
  autoTruncate: opt<boolean>({
    flag: '--auto-truncate',
    env: 'AUTO_TRUNCATE',
    type: 'bool',
    default: true,
    doc: "Truncate inputs over the max input length when the request does not say (TEI 1.9's default). false: such inputs get 422 (400 on OpenAI routes), as from TEI 1.9.",
  }),
  payloadLimit: opt<number>({
    flag: '--payload-limit',
    env: 'PAYLOAD_LIMIT',
    type: 'int',
    default: 2_000_000,
    min: 1,
    doc: 'Largest request body in bytes; larger gets 413.',
  }),
  httpThreads: opt<number>({
    flag: '--http-threads',
    env: 'HTTP_THREADS',
    type: 'int',
    default: 0,
    min: 0,
    doc: 'Worker threads of this process that serve HTTP (parsing, routing, JSON), sharing one listening socket and calling the one model through the main thread. 0: HTTP runs on the main thread. Use 2-4 when many small requests keep one event loop busy.',
  }),
  tokenizationWorkers: opt({
    flag: '--tokenization-workers',
    env: 'TOKENIZATION_WORKERS',
    type: 'string',
    default: 'auto',
    pattern: { re: /^(auto|\d+)$/, forms: 'auto or a number' },
    doc: 'Worker threads that tokenize. auto: one when the machine has two or more cores, so a long text never blocks the event loop that answers everyone else; 0: tokenize on the main thread.',
  }),
  maxBatchImages: opt<number>({
    flag: '--max-batch-images',
    env: 'MAX_BATCH_IMAGES',
    type: 'int',
    default: 64,
    min: 1,
    doc: 'Image-text models: most images in one vision-model call (images batch apart from texts, every image costs the same).',
  }),
  imageWorkers: opt<number>({
    flag: '--image-workers',
    env: 'IMAGE_WORKERS',
    type: 'int',
    default: 2,
    min: 0,
    doc: 'Image-text models: worker threads that decode, resize and normalize images. 0: on the main thread.',
  }),
  jpegDecoder: opt({
    flag: '--jpeg-decoder',
    env: 'JPEG_DECODER',
    type: 'string',
    default: 'wasm',
    choices: ['wasm', 'sharp'],
    doc: 'Image-text models: wasm decodes plain 8-bit JPEGs with libjpeg-turbo in WebAssembly on the image workers (same pixels, about half the CPU of a libvips call); others, and everything with sharp, go through sharp (libvips).',
  }),
  maxImagePixels: opt<number>({
    flag: '--max-image-pixels',
    env: 'MAX_IMAGE_PIXELS',
    type: 'int',
    default: 50_000_000,
    min: 1,
    doc: 'Largest image (width x height) decoded; larger gets 422 before any pixel is decoded (decompression bombs).',
  }),
  maxDecodedPixels: opt<number>({
    flag: '--max-decoded-pixels',
    env: 'MAX_DECODED_PIXELS',
    type: 'int',
    default: 200_000_000,
    min: 0,
    doc: 'Image-text models: decoded pixels (width x height) in flight at once across all image decoding; images beyond it wait, holding only their encoded bytes, until earlier ones are resized (one image alone always proceeds). 200 Mpx is about 600 MB of RGB. 0: unbounded.',
  }),
  allowUrlFetch: opt<boolean>({
    flag: '--allow-url-fetch',
    env: 'ALLOW_URL_FETCH',
    type: 'bool',
    default: false,
    doc: 'Let image inputs be http(s) URLs that the server fetches. Off: only base64 and data: URIs. The server can then reach whatever its network can: enable only where that is safe.',
  }),
  urlFetchAllow: opt<string | null>({
    flag: '--url-fetch-allow',
    env: 'URL_FETCH_ALLOW',
    type: 'string',
    default: null,
    doc: 'With --allow-url-fetch: hosts, addresses and CIDR ranges (comma-separated, e.g. images.internal,10.1.0.0/16) that URL fetches may reach although they are loopback, private, link-local or otherwise internal. Unset: such addresses are refused, also after redirects and behind DNS names.',
  }),
  urlFetchTimeoutMs: opt<number>({
    flag: '--url-fetch-timeout-ms',
    env: 'URL_FETCH_TIMEOUT_MS',
    type: 'int',
    default: 10_000,
    min: 1,
    doc: 'Time limit of one image URL fetch, redirects and body included.',
  }),
  urlFetchMaxBytes: opt<number>({
    flag: '--url-fetch-max-bytes',
    env: 'URL_FETCH_MAX_BYTES',
    type: 'int',
    default: 20_000_000,
    min: 1,
    doc: 'Largest image fetched from a URL; larger gets 413.',
  }),
  fuseAttention: opt<boolean>({
    flag: '--fuse-attention',
    env: 'FUSE_ATTENTION',
    type: 'bool',
    default: true,
    doc: "Image-text models: at load, rewrite the vision tower's unfused attention (as torch.onnx exports it, with its q/k/v biases) into ONNX Runtime's MultiHeadAttention, residual Add + LayerNorm (+ projection bias) into SkipLayerNormalization, and tanh GELU (+ its bias) into FastGelu; /info shows how many of each were fused.",
  }),
  onnxVariant: opt<string | null>({
    flag: '--onnx-variant',
    env: 'ONNX_VARIANT',
    type: 'string',
    default: null,
    doc: 'Image-text models in the transformers.js layout: which onnx/{text,vision}_model_<variant>.onnx to load (e.g. fp16, quantized). Unset: the fp32 files.',
  }),
  defaultPromptName: opt<string | null>({
    flag: '--default-prompt-name',
    env: 'DEFAULT_PROMPT_NAME',
    type: 'string',
    default: null,
    doc: "Name of the prompt (one of the model's config_sentence_transformers.json prompts) prepended to every input whose request names none. Unset: the model's own default_prompt_name, if any. Excludes --default-prompt.",
  }),
  defaultPrompt: opt<string | null>({
    flag: '--default-prompt',
    env: 'DEFAULT_PROMPT',
    type: 'string',
    default: null,
    doc: 'Text prepended to every input whose request names no prompt (e.g. "query: "). Excludes --default-prompt-name.',
  }),
  quantizationCalibration: opt<boolean>({
    flag: '--quantization-calibration',
    env: 'QUANTIZATION_CALIBRATION',
    type: 'bool',
    default: true,
    doc: "Embed the built-in calibration texts at start, before /health turns 200, to find each dimension's range for int8 / uint8 output encodings. false: no server ranges (unless --quantization-ranges); int8 / uint8 requests must then bring their own `ranges`.",
  }),
  quantizationRanges: opt<string | null>({
    flag: '--quantization-ranges',
    env: 'QUANTIZATION_RANGES',
    type: 'string',
    default: null,
    doc: 'A JSON file `{"min": [...], "max": [...]}` with one value per model dimension: the ranges of int8 / uint8 output encodings, instead of calibrating at start (cut to a request\'s `dimensions`).',
  }),
  servedModelName: opt<string | null>({
    flag: '--served-model-name',
    env: 'SERVED_MODEL_NAME',
    type: 'string',
    default: null,
    doc: 'Model name reported by /info and the OpenAI route. Unset: the model folder or Hub id.',
  }),
  apiKey: opt<string | null>({
    flag: '--api-key',
    env: 'API_KEY',
    type: 'string',
    default: null,
    secret: true,
    doc: 'API keys (comma-separated, so a new key can be added before the old one is removed): every HTTP route but /health, /ping and /metrics, and every gRPC service but health, then need `Authorization: Bearer <key>` (401 / UNAUTHENTICATED otherwise). Never shown in /info. Unset: no keys.',
  }),
  apiKeyMetrics: opt<boolean>({
    flag: '--api-key-metrics',
    env: 'API_KEY_METRICS',
    type: 'bool',
    default: false,
    doc: 'With --api-key: /metrics needs a key too.',
  }),
  corsAllowOrigin: opt<string | null>({
    flag: '--cors-allow-origin',
    env: 'CORS_ALLOW_ORIGIN',
    type: 'string',
    default: null,
    doc: 'Origins (comma-separated, or *) browsers may call the HTTP API from: preflights are answered and Access-Control-Allow-Origin is sent to those origins. Unset: no CORS headers.',
  }),
  logFormat: opt({ flag: '--log-format', env: 'LOG_FORMAT', type: 'string', default: 'text', choices: ['text', 'json'], doc: 'Log lines as text or JSON.' }),
  logBatches: opt<boolean>({
    flag: '--log-batches',
    env: 'LOG_BATCHES',
    type: 'bool',
    default: false,
    doc: 'Log one line per model call: its inputs, tokens, padded tokens, and milliseconds from the batcher and inside the session. Shows how the batcher coalesces a load; costs a log write per call on the main thread.',
  }),
  eventLoopMetrics: opt<boolean>({
    flag: '--event-loop-metrics',
    env: 'EVENT_LOOP_METRICS',
    type: 'bool',
    default: false,
    doc: "Export the main thread's event-loop delay on /metrics (nodejs_eventloop_lag_*_seconds, over the interval since the previous scrape).",
  }),
} as const;
type Options = typeof OPTIONS;
export type OptionKey = keyof Options;
/** The configuration as given: each option's type comes from its table entry (choices make unions). */
export type Config = { -readonly [K in OptionKey]: Options[K] extends OptionSpec<infer T> ? T : never };
export type ConfigSource = 'flag' | 'env' | 'default';

const SPECS = OPTIONS as unknown as Record<OptionKey, OptionSpec<unknown>>;
const KEYS = Object.keys(OPTIONS) as OptionKey[];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseValue(spec: OptionSpec<unknown>, given: string, source: string): unknown {
  switch (spec.type) {
    case 'string': {
      const raw = spec.valueAliases?.[given] ?? given;
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new ConfigError(`${source}: '${given}' is not one of ${spec.choices.join(', ')}`);
      }
      if (spec.pattern && !spec.pattern.re.test(raw)) {
        throw new ConfigError(`${source}: '${given}' is not one of ${spec.pattern.forms}`);
      }
      return raw;
    }
    case 'bool': {
      const v = given.toLowerCase();
      if (['1', 'true', 'yes', 'on', ''].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new ConfigError(`${source}: '${given}' is not a boolean (true/false)`);
    }
    case 'int': {
      if (!/^-?\d+$/.test(given.replace(/_/g, ''))) throw new ConfigError(`${source}: '${given}' is not an integer`);
      const n = Number(given.replace(/_/g, ''));
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(`${source}: ${n} is below the minimum ${spec.min}`);
      return n;
    }
  }
}

/** Flags of an option: its own, then its aliases. */
function flagsOf(spec: OptionSpec<unknown>): string[] {
  return [spec.flag, ...(spec.aliases ?? [])];
}

/** TEI flags that no option has taken: refused, switches and no-ops (src/tei-flags.ts). */
function teiExtras() {
  const claimed = new Set(KEYS.flatMap((k) => flagsOf(SPECS[k])));
  return TEI_FLAGS.filter((t) => t.kind !== 'option' && !claimed.has(t.flag));
}

const isBoolLike = (spec: { type: OptionType } | { kind: string }) => ('type' in spec ? spec.type === 'bool' : spec.kind === 'switch' || spec.kind === 'no-op');

function optionFor(flag: string, boolLike: boolean, repeatable = false): Option {
  const option = new Option(`${flag} ${boolLike ? '[bool]' : '<value>'}`);
  return repeatable ? option.argParser((value: string, previous: string | undefined) => (previous === undefined ? value : `${previous};${value}`)) : option;
}

/** Reads argv with commander: every name of every option, raw strings (true for a bare boolean). */
function parseArgv(argv: readonly string[]): Map<string, string | true> {
  const program = new Command('coalesce')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .helpOption(false)
    .allowExcessArguments(false);
  const names = new Map<string, string>();
  const flags = [
    ...KEYS.flatMap((k) => flagsOf(SPECS[k]).map((f) => ({ flag: f, boolLike: isBoolLike(SPECS[k]), repeatable: SPECS[k].repeatable }))),
    ...teiExtras().map((t) => ({ flag: t.flag, boolLike: isBoolLike(t), repeatable: false })),
  ];
  for (const { flag, boolLike, repeatable } of flags) {
    const option = optionFor(flag, boolLike, repeatable);
    names.set(flag, option.attributeName());
    program.addOption(option);
  }
  try {
    program.parse(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw new ConfigError(`${e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see --help)`);
    throw e;
  }
  const given = new Map<string, string | true>();
  for (const [flag, name] of names) {
    const value = program.getOptionValue(name) as string | true | undefined;
    if (value !== undefined) given.set(flag, value);
  }
  return given;
}

/** The value an option gets from the command line (one of its names at most), or from the first of its variables that is set. */
function rawValue(
  flags: readonly string[],
  envs: readonly string[],
  given: Map<string, string | true>,
  env: NodeJS.ProcessEnv,
): { raw: string; source: string; from: ConfigSource } | null {
  const named = flags.filter((f) => given.has(f));
  if (named.length > 1) throw new ConfigError(`${named.join(' and ')} name the same option: give one`);
  if (named.length === 1) {
    const v = given.get(named[0])!;
    return { raw: v === true ? 'true' : v, source: named[0], from: 'flag' };
  }
  for (const name of envs) {
    const v = env[name];
    if (v !== undefined && v !== '') return { raw: v, source: name, from: 'env' };
  }
  return null;
}

/** Options that cannot be given together (TEI refuses the prompt pair too). */
const EXCLUSIVE: readonly (readonly OptionKey[])[] = [
  ['defaultPromptName', 'defaultPrompt'],
  ['dtype', 'onnxFile'],
  ['dtype', 'onnxVariant'],
  ['model', 'modelsFile'],
];

/** Resolves flag > env > default. Throws ConfigError naming the flag or variable at fault. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config {
  const given = parseArgv(argv);
  const config: Record<string, unknown> = {};
  const sources = new Map<OptionKey, string>();
  for (const key of KEYS) {
    const spec = SPECS[key];
    const found = rawValue(flagsOf(spec), [spec.env, ...(spec.envAliases ?? [])], given, env);
    config[key] = found ? parseValue(spec, found.raw, found.source) : spec.default;
    if (found) sources.set(key, found.source);
  }
  for (const tei of teiExtras()) {
    const found = rawValue([tei.flag], [tei.env], given, env);
    if (!found) continue;
    // The value is never echoed: --api-key carries a secret.
    if (tei.kind === 'refused') throw new ConfigError(`${found.source} (a TEI setting) is not supported by Coalesce: ${tei.why}`);
    const on = parseValue({ flag: tei.flag, env: tei.env, type: 'bool', default: false, doc: '' }, found.raw, found.source);
    if (tei.kind !== 'switch' || !on) continue;
    const { option, value } = tei.sets;
    const already = sources.get(option as OptionKey);
    if (already && config[option] !== value)
      throw new ConfigError(`${found.source} asks for ${SPECS[option as OptionKey].flag} ${value}, but ${already} says '${config[option]}'`);
    config[option] = parseValue(SPECS[option as OptionKey], value, found.source);
  }
  for (const group of EXCLUSIVE) {
    const set = group.filter((k) => sources.has(k));
    if (set.length > 1) throw new ConfigError(`${set.map((k) => sources.get(k)).join(' and ')} cannot be used together`);
  }
  checkInt8(config as Config, sources);
  return config as Config;
}

/**
 * int8 serving is CPU-only (its integer kernels are the CPU provider's; nothing here measured or
 * tested it on CUDA), and --quantize rewrites float32 weights only.
 */
function checkInt8(config: Config, sources: Map<OptionKey, string>): void {
  const int8 = config.quantize !== 'none' ? sources.get('quantize')! : config.dtype === 'int8' ? sources.get('dtype')! : null;
  if (int8 === null) return;
  const what = config.quantize !== 'none' ? `${int8} ${config.quantize}` : `${int8} int8`;
  if (config.device !== 'cpu') {
    throw new ConfigError(`${what} runs on the CPU only, but ${sources.get('device') ?? '--device'} is '${config.device}': give --device cpu`);
  }
  if (config.quantize !== 'none' && config.dtype !== null && config.dtype !== 'float32') {
    throw new ConfigError(`${what} quantizes float32 weights; ${sources.get('dtype')} ${config.dtype} loads ${config.dtype} ones: give one of them`);
  }
}

/** The effective configuration as /info shows it: secrets masked. */
export function publicConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    out[key] = SPECS[key as OptionKey]?.secret && value ? '***' : maskUrlCredentials(value);
  }
  return out;
}

/** A URL's user:password (e.g. in --hub-endpoint) shown as ***; anything else as it is. */
export function maskUrlCredentials(value: unknown): unknown {
  if (typeof value !== 'string' || !value.includes('@') || !URL.canParse(value)) return value;
  const url = new URL(value);
  if (!url.username && !url.password) return value;
  url.username = '***';
  url.password = '';
  return url.href;
}

/** `--help`: commander's layout of the same table, with each option's variable and default. */
export function helpText(): string {
  const program = new Command('coalesce')
    .helpOption('-h, --help', 'Show this help.')
    .description('An embedding server. Every option is also an environment variable; a flag beats its variable, which beats the default.');
  for (const key of KEYS) {
    const spec = SPECS[key];
    const names = [...(spec.aliases ?? []).filter((a) => /^-\w$/.test(a)), spec.flag].join(', ');
    const option = new Option(`${names} ${spec.type === 'bool' ? '[bool]' : `<${spec.type}>`}`, spec.doc).env(
      [spec.env, ...(spec.envAliases ?? [])].join(', '),
    );
    if (spec.default !== null) option.default(spec.default);
    if (spec.choices) option.choices(spec.choices);
    program.addOption(option);
  }
  const tei = TEI_FLAGS.filter((t) => t.kind !== 'option').map((t) => `  ${t.flag} [${t.env}]: ${t.kind === 'refused' ? `refused: ${t.why}` : t.note}`);
  const aliases = KEYS.flatMap((k) => (SPECS[k].aliases ?? []).filter((a) => a.startsWith('--')).map((a) => `  ${a}: ${SPECS[k].flag}`));
  return [program.helpInformation().trimEnd(), '', 'TEI names:', ...aliases, ...tei, '', 'Full table: docs/configuration.md'].join('\n');
}
