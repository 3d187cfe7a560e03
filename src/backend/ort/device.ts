/**
 * Which device the sessions run on, and why the CUDA provider cannot load when it cannot. Pure
 * (no ORT import), so the messages are tested without a GPU.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type DeviceRequest = { kind: 'cpu' } | { kind: 'cuda'; id: number } | { kind: 'auto' };

/** The forms --device takes; config.ts checks them with the same expression. */
export const DEVICE_PATTERN = /^(cpu|auto|cuda(:\d+)?)$/;

export function parseDevice(device: string): DeviceRequest {
  if (!DEVICE_PATTERN.test(device)) throw new Error(`--device '${device}' is not one of cpu, cuda, cuda:N, auto`);
  if (device === 'cpu') return { kind: 'cpu' };
  if (device === 'auto') return { kind: 'auto' };
  return { kind: 'cuda', id: device === 'cuda' ? 0 : Number(device.slice(5)) };
}

/** The forms --device takes as a whole: one device, auto, cuda:all, or a comma-separated list of devices. */
export const DEVICE_LIST_PATTERN = /^(auto|cuda:all|(cpu|cuda(:\d+)?)(,(cpu|cuda(:\d+)?))*)$/;

/**
 * The device groups of --device, one model copy each: `cuda:0,cuda:1` is two, `cpu,cpu` two CPU
 * groups (each with its own sessions, sharing the cores), `cuda:0,cuda:0` two groups on one GPU,
 * `cuda:all` one per GPU that `countGpus` finds. Throws an Error saying what is wrong.
 */
export function parseDeviceGroups(spec: string, countGpus: () => number = nvidiaGpuCount): string[] {
  if (!DEVICE_LIST_PATTERN.test(spec)) throw new Error(`--device '${spec}' is not one of cpu, cuda, cuda:N, auto, cuda:all, or a list such as cuda:0,cuda:1`);
  if (spec !== 'cuda:all') return spec.split(',').map((d) => (d === 'cuda' ? 'cuda:0' : d));
  const count = countGpus();
  if (count < 1) throw new Error('--device cuda:all found no GPU (the NVIDIA driver lists none); name the devices instead, e.g. --device cuda:0,cuda:1');
  return Array.from({ length: count }, (_, i) => `cuda:${i}`);
}

/**
 * GPUs of this machine: those CUDA_VISIBLE_DEVICES names when set, else one per entry of the
 * NVIDIA driver's /proc/driver/nvidia/gpus (read, not nvidia-smi run: the server never starts
 * processes). Throws when the driver is not there.
 */
export function nvidiaGpuCount(procDir = '/proc/driver/nvidia/gpus'): number {
  const visible = process.env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined && visible.trim() !== '') return visible.split(',').filter((d) => d.trim() !== '' && d.trim() !== '-1').length;
  try {
    return readdirSync(procDir).length;
  } catch {
    throw new Error(`--device cuda:all found no NVIDIA driver (${procDir} cannot be read); name the devices instead, e.g. --device cuda:0,cuda:1`);
  }
}

/** The package whose shared libraries make onnxruntime-node 1.29.0 run on CUDA 13. */
export const CUDA_PROVIDER_PACKAGE = 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9';
export const CUDA_PROVIDER_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

/** Where onnxruntime-node looks for provider libraries: beside its native binding. */
export function ortBinaryDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve('onnxruntime-node/package.json');
    return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

/**
 * A message that says what is missing and how to install it, for a CUDA provider that did not
 * load; `ortMessage` is what ONNX Runtime said.
 */
export function cudaUnavailableMessage(ortMessage: string, dir: string | null = ortBinaryDir()): string {
  const install =
    `install it with: npm pack ${CUDA_PROVIDER_PACKAGE} && tar xzf com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz && ` +
    `cp package/Plugins/Linux/x64/libonnxruntime_providers_*.so ${dir ?? '<onnxruntime-node>/bin/napi-v6/linux/x64'}/ ` +
    `(or run scripts/install-cuda-provider.sh)`;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return `the CUDA execution provider is only available on linux-x64 (this is ${process.platform}-${process.arch}); use --device cpu`;
  }
  const missing = dir ? CUDA_PROVIDER_LIBRARIES.filter((f) => !existsSync(join(dir, f))) : CUDA_PROVIDER_LIBRARIES;
  if (missing.length > 0) {
    return `the CUDA execution provider of onnxruntime-node is not installed: ${missing.join(' and ')} missing from ${dir ?? 'onnxruntime-node'}; ${install}`;
  }
  return (
    `the CUDA execution provider is installed in ${dir} but did not load (${ortMessage.trim()}). It needs an NVIDIA driver and GPU, ` +
    `the CUDA 13 libraries (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, cuFFT, cuRAND) and cuDNN 9 ` +
    `(libcudnn.so.9) on the library path (LD_LIBRARY_PATH, e.g. /usr/local/cuda-13.0/targets/x86_64-linux/lib)`
  );
}
