/**
 * TEI 1.9.3's flags (router/src/main.rs) and what Coalesce does with each, so that a TEI command
 * line or environment either means the same here or stops the start with the reason: a TEI
 * setting is never silently ignored.
 *
 * - option: an entry of OPTIONS (src/config.ts) has this flag, as its flag or one of its aliases.
 * - switch: a TEI boolean flag that sets an option to a value (`--json-output`: JSON logs).
 * - no-op: accepted because Coalesce already behaves as asked.
 * - refused: giving it (flag or non-empty env var) stops the start with `why`. An option that
 *   later takes the flag into OPTIONS wins over the refusal, so implementing one needs no edit here.
 */
export type TeiFlag =
  | { flag: string; env: string; kind: 'option'; note?: string }
  | { flag: string; env: string; kind: 'switch'; sets: { option: string; value: string }; note: string }
  | { flag: string; env: string; kind: 'no-op'; note: string }
  | { flag: string; env: string; kind: 'refused'; why: string };

export const TEI_FLAGS: readonly TeiFlag[] = [
  { flag: '--model-id', env: 'MODEL_ID', kind: 'option' },
  { flag: '--revision', env: 'REVISION', kind: 'option' },
  {
    flag: '--tokenization-workers',
    env: 'TOKENIZATION_WORKERS',
    kind: 'option',
    note: 'Default auto: one worker thread with two or more cores, else the main thread (TEI: one worker per core).',
  },
  { flag: '--dtype', env: 'DTYPE', kind: 'option', note: 'float32 and float16 (an fp16 ONNX file); bfloat16 is refused.' },
  { flag: '--served-model-name', env: 'SERVED_MODEL_NAME', kind: 'option' },
  { flag: '--pooling', env: 'POOLING', kind: 'option', note: 'cls, mean, last-token (also max); splade is refused.' },
  { flag: '--max-concurrent-requests', env: 'MAX_CONCURRENT_REQUESTS', kind: 'option' },
  { flag: '--max-batch-tokens', env: 'MAX_BATCH_TOKENS', kind: 'option' },
  { flag: '--max-batch-requests', env: 'MAX_BATCH_REQUESTS', kind: 'option', note: 'Default 256 (TEI: no limit).' },
  { flag: '--max-client-batch-size', env: 'MAX_CLIENT_BATCH_SIZE', kind: 'option' },
  { flag: '--auto-truncate', env: 'AUTO_TRUNCATE', kind: 'option', note: 'Default true, as TEI 1.9.' },
  { flag: '--default-prompt-name', env: 'DEFAULT_PROMPT_NAME', kind: 'option' },
  { flag: '--default-prompt', env: 'DEFAULT_PROMPT', kind: 'option' },
  {
    flag: '--dense-path',
    env: 'DENSE_PATH',
    kind: 'refused',
    why: 'Dense modules (2_Dense) are not applied by Coalesce; export the model with its Dense layer inside the ONNX graph',
  },
  { flag: '--device-id', env: 'DEVICE_ID', kind: 'refused', why: 'use --device cuda:N to choose the GPU' },
  { flag: '--hf-api-token', env: 'HF_API_TOKEN', kind: 'option' },
  { flag: '--hf-token', env: 'HF_TOKEN', kind: 'option' },
  { flag: '--hostname', env: 'HOSTNAME', kind: 'option', note: 'Its variable is HOSTNAME_BIND: shells and containers set HOSTNAME to the machine name.' },
  { flag: '--port', env: 'PORT', kind: 'option', note: 'Also -p. Default 8080 (TEI: 3000).' },
  { flag: '--uds-path', env: 'UDS_PATH', kind: 'refused', why: 'serving on a Unix domain socket is not supported' },
  { flag: '--huggingface-hub-cache', env: 'HUGGINGFACE_HUB_CACHE', kind: 'option' },
  { flag: '--payload-limit', env: 'PAYLOAD_LIMIT', kind: 'option' },
  { flag: '--api-key', env: 'API_KEY', kind: 'option', note: 'Several keys, comma-separated; /metrics stays open unless --api-key-metrics.' },
  { flag: '--json-output', env: 'JSON_OUTPUT', kind: 'switch', sets: { option: 'logFormat', value: 'json' }, note: 'Same as --log-format json.' },
  { flag: '--disable-spans', env: 'DISABLE_SPANS', kind: 'no-op', note: 'Coalesce emits no tracing spans.' },
  { flag: '--otlp-endpoint', env: 'OTLP_ENDPOINT', kind: 'refused', why: 'Coalesce exports no OpenTelemetry traces' },
  { flag: '--otlp-service-name', env: 'OTLP_SERVICE_NAME', kind: 'refused', why: 'Coalesce exports no OpenTelemetry traces' },
  {
    flag: '--prometheus-port',
    env: 'PROMETHEUS_PORT',
    kind: 'refused',
    why: 'metrics are served at /metrics on the HTTP port (--port), not on a port of their own',
  },
  { flag: '--cors-allow-origin', env: 'CORS_ALLOW_ORIGIN', kind: 'option' },
];
