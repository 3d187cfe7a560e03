/**
 * The served half of the image benchmark (bench/gpu/image-bench.sh runs it on the device): starts
 * Coalesce on the SigLIP-base export, checks its vectors against PyTorch's at full size, then
 * drives POST /embed_image with N closed-loop clients, one JPEG per request (224 x 224, then
 * 1024 x 768), and reports images/s next to the PyTorch anchors, with where the time goes:
 * the server's per-request decode / resize / queue / inference times and the cores it used.
 *
 * usage: node dist/bench/gpu/image-load.js --model DIR --torch torch.json --out DIR
 *          [--device cuda] [--variant fp16] [--clients 64] [--loaders 4] [--seconds 15] [--warmup 4] [--image-workers 8]
 *          [--inputs 224x224,1024x768]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cosine } from '../cosine.js';
import { histogramMean, runLoadPhase } from './load-phase.js';
import { flagValue } from '../args.js';

interface Args {
  model: string;
  torch: string | null;
  out: string;
  device: string;
  variant: string;
  clients: number;
  seconds: number;
  warmup: number;
  imageWorkers: number;
  /** Input sizes measured, in order (224x224, 1024x768). */
  inputs: string[];
  /** Load generator processes the clients are spread over. */
  loaders: number;
  /** Width of the served vectors, to check the first answers. */
  dimensions: number;
  maxBatchImages: number;
  port: number;
  /** Node flags for the server process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (NODE_OPTIONS refuses --cpu-prof). */
  nodeFlags: string[];
  /** More server flags, e.g. "--http-threads 4". */
  serverFlags: string[];
  /** Writes image-bench-<tag>.{json,md}. */
  tag: string | null;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, fallback: string | null) => flagValue(name, fallback, argv);
  const model = get('model', null);
  if (!model) throw new Error('--model DIR is required (from bench/gpu/export_siglip_base.py)');
  return {
    model,
    torch: get('torch', null),
    out: get('out', 'bench/results')!,
    device: get('device', 'cuda')!,
    variant: get('variant', 'fp16')!,
    clients: Number(get('clients', '64')),
    seconds: Number(get('seconds', '15')),
    warmup: Number(get('warmup', '4')),
    imageWorkers: Number(get('image-workers', String(Math.max(1, Math.min(8, availableParallelism() - 4))))),
    inputs: get('inputs', '224x224,1024x768')!.split(','),
    loaders: Number(get('loaders', '4')),
    dimensions: Number(get('dimensions', '768')),
    maxBatchImages: Number(get('max-batch-images', '64')),
    port: Number(get('port', '8097')),
    nodeFlags: (get('node-flags', '') ?? '').split(' ').filter(Boolean),
    serverFlags: (get('server-flags', '') ?? '').split(' ').filter(Boolean),
    tag: get('tag', null),
  };
}

async function startServer(args: Args): Promise<ChildProcess> {
  const flags = [
    ...args.nodeFlags,
    'dist/src/main.js',
    '--model',
    args.model,
    '--device',
    args.device,
    '--port',
    String(args.port),
    '--grpc-port',
    '-1',
    '--hostname',
    '127.0.0.1',
    '--max-batch-images',
    String(args.maxBatchImages),
    '--image-workers',
    String(args.imageWorkers),
    '--max-concurrent-requests',
    '4096',
    '--payload-limit',
    '20000000',
  ];
  if (args.variant !== 'fp32') flags.push('--onnx-variant', args.variant);
  flags.push(...args.serverFlags);
  const child = spawn(process.execPath, flags, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16' },
  });
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited (code ${child.exitCode})`);
    try {
      if ((await fetch(`http://127.0.0.1:${args.port}/health`)).status === 200) return child;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  child.kill();
  throw new Error('the server did not become healthy in 300 s');
}

/** One request; `body` is the JSON text, built once per image so the client spends its time on I/O. */
async function embed(base: string, body: string): Promise<{ vectors: Float32Array[]; headers: Headers }> {
  const res = await fetch(`${base}/embed_image`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/octet-stream' },
    body,
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const buf = new Float32Array(await res.arrayBuffer());
  const dims = Number(res.headers.get('x-embedding-dimensions'));
  return { vectors: Array.from({ length: buf.length / dims }, (_, i) => buf.subarray(i * dims, (i + 1) * dims)), headers: res.headers };
}

interface Phase {
  input: string;
  clients: number;
  loaders: number;
  seconds: number;
  images: number;
  imagesPerS: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number };
  /** Means of the server's per-request times (ms), from its timing headers. */
  /** prepare: from admission until the image's pixels are back on the main thread (reading, waiting for and decoding on an image worker). */
  serverMs: { prepare: number; decode: number; resize: number; queue: number; inference: number; total: number };
  meanBatchImages: number;
  serverCores: number;
  /** Of the server's cores, its main thread (facades, batchers, the hops between threads). */
  mainThreadCores: number;
  /** Busy cores of the whole machine (server, load generators, everything). */
  machineCores: number;
  bytesPerImage: number;
}

const TIMING_HEADERS = ['x-tokenization-time', 'x-decode-time', 'x-resize-time', 'x-queue-time', 'x-inference-time', 'x-total-time'];

/** N closed-loop clients spread over --loaders processes (load-phase.ts), so the client side never limits the server. */
async function phase(base: string, pid: number, input: string, blobs: string[], args: Args): Promise<Phase> {
  const bodiesFile = join(mkdtempSync(join(tmpdir(), 'image-load-')), 'bodies.json');
  writeFileSync(bodiesFile, JSON.stringify(blobs.map((body) => ({ body, tokens: 1 }))));
  const r = await runLoadPhase({
    url: base,
    path: '/embed_image',
    bodiesFile,
    clients: args.clients,
    loaders: args.loaders,
    accept: 'binary',
    textsPerRequest: 1,
    dimensions: args.dimensions,
    sumHeaders: TIMING_HEADERS,
    warmupS: args.warmup,
    seconds: args.seconds,
    pid,
  }).finally(() => rmSync(dirname(bodiesFile), { recursive: true, force: true }));
  if (r.firstError) console.error('loader:', r.firstError);
  const mean = (h: string) => r.headerMeans[h];
  const { cpu, metrics } = r;
  return {
    input,
    clients: args.clients,
    loaders: r.loaders,
    seconds: args.seconds,
    images: r.requests,
    imagesPerS: r.requests / args.seconds,
    errors: r.errors,
    latencyMs: r.latencyMs,
    serverMs: {
      prepare: mean('x-tokenization-time'),
      decode: mean('x-decode-time'),
      resize: mean('x-resize-time'),
      queue: mean('x-queue-time'),
      inference: mean('x-inference-time'),
      total: mean('x-total-time'),
    },
    meanBatchImages: histogramMean(metrics, 'te_batch_next_size') ?? NaN,
    serverCores: cpu?.cores.server ?? NaN,
    mainThreadCores: cpu?.mainThreadCores.server ?? NaN,
    machineCores: cpu ? cpu.cores.server + cpu.othersCores : NaN,
    bytesPerImage: blobs.reduce((a, b) => a + b.length, 0) / blobs.length,
  };
}

const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '—');

function markdown(report: Record<string, any>): string {
  const torch = report.torch ?? {};
  const modelOnly = torch.model_only_b64?.images_per_s;
  const lines = [
    `# Image benchmark: SigLIP-base (patch16, 224), random weights`,
    '',
    `${report.device} · ${report.cores} cores · Coalesce ${report.variant} on ${report.serverDevice}, ${report.args.clients} HTTP clients in ${report.args.loaders} load processes, one JPEG per request, ` +
      `--max-batch-images ${report.args.maxBatchImages}, --image-workers ${report.args.imageWorkers}; PyTorch ${torch.torch ?? '?'} fp16 eager, batch ${torch.batch ?? 64}.`,
    '',
    '| what | 224 x 224 JPEG | 1024 x 768 JPEG |',
    '| --- | --- | --- |',
  ];
  const p = Object.fromEntries((report.phases as Phase[]).map((x) => [x.input, x]));
  const row = (name: string, a: string, b: string) => lines.push(`| ${name} | ${a} | ${b} |`);
  row('**Coalesce end to end over HTTP**, images/s', f(p['224x224']?.imagesPerS), f(p['1024x768']?.imagesPerS));
  row('PyTorch fp16 eager, model only (tensors on the GPU), images/s', f(modelOnly), f(modelOnly));
  row('PyTorch, model + host-to-device copy, images/s', f(torch.model_h2d_b64?.images_per_s), f(torch.model_h2d_b64?.images_per_s));
  row(
    'transformers processor + model in-process (PIL decode included), images/s',
    f(torch.processor_model_224x224?.images_per_s),
    f(torch.processor_model_1024x768?.images_per_s),
  );
  row('transformers processor alone, images/s', f(torch.processor_only_224x224?.images_per_s), f(torch.processor_only_1024x768?.images_per_s));
  row('**Coalesce / PyTorch model only** (target >= 0.8 at 224)', f(p['224x224']?.imagesPerS / modelOnly, 2), f(p['1024x768']?.imagesPerS / modelOnly, 2));
  row(
    'Coalesce / transformers processor + model',
    f(p['224x224']?.imagesPerS / torch.processor_model_224x224?.images_per_s, 2),
    f(p['1024x768']?.imagesPerS / torch.processor_model_1024x768?.images_per_s, 2),
  );
  lines.push(
    '',
    '**Where the time goes** (server side, mean per request, ms; cores = CPU the server process used):',
    '',
    '| | 224 x 224 | 1024 x 768 |',
    '| --- | --- | --- |',
  );
  const both = (name: string, g: (x: Phase) => string) => row(name, p['224x224'] ? g(p['224x224']) : '—', p['1024x768'] ? g(p['1024x768']) : '—');
  both('read + wait for an image worker + decode, until the pixels are back', (x) => f(x.serverMs.prepare, 1));
  both('of which decoding (base64, JPEG decoder)', (x) => f(x.serverMs.decode, 1));
  both('resize + crop (JS, image workers)', (x) => f(x.serverMs.resize, 1));
  both('queue (waiting for a vision batch)', (x) => f(x.serverMs.queue, 1));
  both('inference (the vision batch that carried it)', (x) => f(x.serverMs.inference, 1));
  both('total in server', (x) => f(x.serverMs.total, 1));
  both('client latency p50 / p99', (x) => `${f(x.latencyMs.p50, 1)} / ${f(x.latencyMs.p99, 1)}`);
  both('mean images per vision batch', (x) => f(x.meanBatchImages, 1));
  both('server CPU cores used (of which its main thread)', (x) => `${f(x.serverCores, 1)} (${f(x.mainThreadCores, 2)})`);
  both('machine cores busy (server + load generators)', (x) => `${f(x.machineCores, 1)} of ${availableParallelism()}`);
  both('errors', (x) => String(x.errors));
  lines.push(
    '',
    `Fidelity at full size (served ${report.variant} vs PyTorch fp32 through transformers' processor): min cosine ` +
      Object.entries(report.fidelity as Record<string, number>)
        .map(([k, v]) => `${k} ${v.toFixed(5)}`)
        .join(', ') +
      '.',
  );
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(args.out, { recursive: true });
  const ref = JSON.parse(readFileSync(join(args.model, 'reference.json'), 'utf8')) as { files: string[]; image_embeds: number[][] };
  const blob = (file: string) => readFileSync(join(args.model, 'images', file)).toString('base64');
  const server = await startServer(args);
  const base = `http://127.0.0.1:${args.port}`;
  try {
    const info = (await (await fetch(`${base}/info`)).json()) as any;
    const fidelity: Record<string, number> = {};
    for (const [i, file] of ref.files.entries()) {
      const size = /_(\d+x\d+)_/.exec(file)![1];
      const { vectors } = await embed(base, JSON.stringify({ inputs: [blob(file)] }));
      fidelity[size] = Math.min(fidelity[size] ?? 1, cosine(vectors[0], ref.image_embeds[i]));
    }
    console.log('fidelity', JSON.stringify(fidelity));
    const phases: Phase[] = [];
    for (const size of args.inputs) {
      const blobs = ref.files.filter((f) => f.includes(`_${size}_`)).map((f) => JSON.stringify({ inputs: [blob(f)] }));
      const p = await phase(base, server.pid!, size, blobs, args);
      console.log('phase', JSON.stringify(p));
      phases.push(p);
    }
    const torch = args.torch && existsSync(args.torch) ? JSON.parse(readFileSync(args.torch, 'utf8')) : null;
    const report = {
      device: torch?.device ?? 'unknown GPU',
      cores: availableParallelism(),
      variant: args.variant,
      serverDevice: info.device,
      args,
      image: info.image,
      fidelity,
      phases,
      torch,
    };
    const name = args.tag ? `image-bench-${args.tag}` : 'image-bench';
    writeFileSync(join(args.out, `${name}.json`), JSON.stringify(report, null, 1));
    writeFileSync(join(args.out, `${name}.md`), markdown(report));
    console.log(markdown(report));
  } finally {
    server.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
