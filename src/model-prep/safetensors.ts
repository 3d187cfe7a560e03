/** Reads single small tensors (logit_scale, logit_bias, a projection) from a .safetensors file without loading the rest. */
import { closeSync, openSync, readSync } from 'node:fs';
import { halfToFloat } from '../onnx-graph/float16.js';

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function readHeader(fd: number, path: string): { header: Record<string, Entry>; dataStart: number } {
  const head = Buffer.alloc(8);
  readSync(fd, head, 0, 8, 0);
  const size = Number(head.readBigUInt64LE(0));
  if (size <= 0 || size > 100_000_000) throw new Error(`${path}: not a safetensors file (header size ${size})`);
  const json = Buffer.alloc(size);
  readSync(fd, json, 0, size, 8);
  return { header: JSON.parse(json.toString('utf8')) as Record<string, Entry>, dataStart: 8 + size };
}

const bf16ToFloat = (bits: number) => new Float32Array(new Uint32Array([bits << 16]).buffer)[0];

/** One float tensor, widened to float32; null when the file has no tensor of that name (or not a float one). */
export function readSafetensor(path: string, name: string): { shape: number[]; data: Float32Array } | null {
  const fd = openSync(path, 'r');
  try {
    const { header, dataStart } = readHeader(fd, path);
    const e = header[name];
    if (!e || !Array.isArray(e.data_offsets)) return null;
    const width = { F32: 4, F16: 2, BF16: 2 }[e.dtype];
    if (!width) return null;
    const [from, to] = e.data_offsets;
    const buf = Buffer.alloc(to - from);
    readSync(fd, buf, 0, to - from, dataStart + from);
    const data = new Float32Array(buf.length / width);
    for (let i = 0; i < data.length; i++) {
      data[i] = e.dtype === 'F32' ? buf.readFloatLE(i * 4) : e.dtype === 'F16' ? halfToFloat(buf.readUInt16LE(i * 2)) : bf16ToFloat(buf.readUInt16LE(i * 2));
    }
    return { shape: e.shape, data };
  } finally {
    closeSync(fd);
  }
}

/** The first element of each named tensor found (float types only); missing names are left out. */
export function readSafetensorScalars(path: string, names: readonly string[]): Record<string, number> {
  const fd = openSync(path, 'r');
  try {
    const { header, dataStart } = readHeader(fd, path);
    const out: Record<string, number> = {};
    for (const name of names) {
      const e = header[name];
      if (!e || !Array.isArray(e.data_offsets)) continue;
      const width = { F64: 8, F32: 4, F16: 2, BF16: 2 }[e.dtype];
      if (!width) continue;
      const buf = Buffer.alloc(width);
      readSync(fd, buf, 0, width, dataStart + e.data_offsets[0]);
      out[name] =
        e.dtype === 'F64'
          ? buf.readDoubleLE(0)
          : e.dtype === 'F32'
            ? buf.readFloatLE(0)
            : e.dtype === 'F16'
              ? halfToFloat(buf.readUInt16LE(0))
              : bf16ToFloat(buf.readUInt16LE(0));
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
