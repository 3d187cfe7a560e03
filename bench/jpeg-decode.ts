/**
 * JPEG decoding, side by side in one run: sharp (libvips) against libjpeg in WebAssembly
 * (src/preprocess/jpeg-wasm.ts), through the server's own preprocessImage (decode + Pillow resize
 * to SigLIP's 224 x 224), on 1 thread and on N worker threads as the image workers run it.
 * Reports images/s and CPU ms per image (all threads of this process, libuv's pool included).
 *
 * usage: node dist/bench/jpeg-decode.js [--threads N] [--seconds S] [--sizes 224x224,1024x768] [--images DIR] [--out bench/results]
 */
import { availableParallelism } from 'node:os';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { preprocessImage, type ImageDecodeOptions, type ImageProcessorConfig } from '../src/preprocess/image.js';
import { flagValue } from './args.js';

const SIGLIP: ImageProcessorConfig = {
  resize: { kind: 'exact', height: 224, width: 224 },
  filter: 'linear',
  crop: null,
  rescaleFactor: 1 / 255,
  normalize: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  height: 224,
  width: 224,
};

interface Job {
  images: Uint8Array[];
  decoder: ImageDecodeOptions['jpegDecoder'];
  seconds: number;
}

/** Decodes round-robin until the time is up; returns how many. */
async function loop(job: Job, options: ImageDecodeOptions): Promise<number> {
  const end = performance.now() + job.seconds * 1000;
  let n = 0;
  while (performance.now() < end) await preprocessImage(job.images[n++ % job.images.length], SIGLIP, options);
  return n;
}

if (!isMainThread) {
  // Thread start-up and the decoder's first use (the WebAssembly module's compilation) happen
  // before 'ready': the timed window holds decoding only.
  const job = workerData as Job;
  const options: ImageDecodeOptions = { maxPixels: 50_000_000, jpegDecoder: job.decoder };
  await preprocessImage(job.images[0], SIGLIP, options);
  parentPort!.once('message', async () => parentPort!.postMessage(await loop(job, options)));
  parentPort!.postMessage('ready');
} else {
  const threads = Number(flagValue('threads', String(Math.max(1, availableParallelism() - 2))));
  const seconds = Number(flagValue('seconds', '3'));
  const out = flagValue('out', 'bench/results');
  const dir = flagValue('images', '');
  const sizes = flagValue('sizes', '224x224,1024x768')
    .split(',')
    .map((s) => s.split('x').map(Number));

  /** Photo-like test pictures (gradients, waves, noise), JPEG quality 90 as the GPU bench's. */
  async function scene(w: number, h: number, seed: number): Promise<Uint8Array> {
    const raw = Buffer.alloc(w * h * 3);
    let s = seed;
    const noise = () => ((s = (s * 1103515245 + 12345) % 2147483648) % 17) - 8;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        raw.set([(255 * x) / w + noise(), (255 * y) / h + noise(), 128 + 127 * Math.sin((x / w) * (1 + seed) * 6 + (y / h) * 9) + noise()], (y * w + x) * 3);
      }
    }
    return sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer();
  }

  const sets: Record<string, Uint8Array[]> = {};
  for (const [w, h] of sizes) {
    const size = `${w}x${h}`;
    const files = dir ? readdirSync(dir).filter((f) => f.includes(`_${size}_`) && f.endsWith('.jpg')) : [];
    sets[size] = files.length ? files.map((f) => readFileSync(join(dir, f))) : await Promise.all([0, 1, 2, 3].map((k) => scene(w, h, k)));
  }

  async function run(images: Uint8Array[], decoder: Job['decoder'], n: number): Promise<{ imagesPerS: number; cpuMsPerImage: number }> {
    const job: Job = { images, decoder, seconds };
    const workers = await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise<Worker>((resolve, reject) => {
            const w = new Worker(new URL(import.meta.url), { workerData: job });
            w.once('message', () => resolve(w)).once('error', reject);
          }),
      ),
    );
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const counts = await Promise.all(
      workers.map(
        (w) =>
          new Promise<number>((resolve, reject) => {
            w.once('message', resolve).once('error', reject);
            w.postMessage('go');
          }),
      ),
    );
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    await Promise.all(workers.map((w) => w.terminate()));
    const total = counts.reduce((a, b) => a + b, 0);
    return { imagesPerS: total / wall, cpuMsPerImage: (cpu.user + cpu.system) / 1000 / total };
  }

  const rows: Record<string, unknown>[] = [];
  for (const [size, images] of Object.entries(sets)) {
    for (const n of [1, threads]) {
      const sharpRun = await run(images, 'sharp', n);
      const wasmRun = await run(images, 'wasm', n);
      rows.push({ size, threads: n, bytes: Math.round(images.reduce((a, b) => a + b.length, 0) / images.length), sharp: sharpRun, wasm: wasmRun });
    }
  }
  const f = (x: number, d = 0) => x.toFixed(d);
  const lines = [
    `# JPEG decode + resize to 224 x 224: sharp vs libjpeg in WebAssembly`,
    '',
    `${availableParallelism()} cores, ${seconds} s per cell, worker threads as the image workers; CPU = all threads of the process per image.`,
    '',
    '| input | threads | sharp img/s | wasm img/s | wasm / sharp | sharp CPU ms/img | wasm CPU ms/img |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r: any) =>
        `| ${r.size} JPEG (${r.bytes} B) | ${r.threads} | ${f(r.sharp.imagesPerS)} | ${f(r.wasm.imagesPerS)} | ${f(r.wasm.imagesPerS / r.sharp.imagesPerS, 2)} | ${f(r.sharp.cpuMsPerImage, 2)} | ${f(r.wasm.cpuMsPerImage, 2)} |`,
    ),
  ];
  console.log(lines.join('\n'));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'jpeg-decode.json'), JSON.stringify({ cores: availableParallelism(), seconds, rows }, null, 1));
  writeFileSync(join(out, 'jpeg-decode.md'), lines.join('\n') + '\n');
}
