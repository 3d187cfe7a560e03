/** Reads single small tensors (logit_scale, logit_bias) from a .safetensors file without loading the rest. */
import { closeSync, openSync, readSync } from 'node:fs';
import { halfToFloat } from '../onnx-graph/float16.js';

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** The first element of each named tensor found (float types only); missing names are left out. */
export function readSafetensorScalars(path: string, names: readonly string[]): Record<string, number> {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(8);
    readSync(fd, head, 0, 8, 0);
    const size = Number(head.readBigUInt64LE(0));
    if (size <= 0 || size > 100_000_000) throw new Error(`${path}: not a safetensors file (header size ${size})`);
    const json = Buffer.alloc(size);
    readSync(fd, json, 0, size, 8);
    const header = JSON.parse(json.toString('utf8')) as Record<string, Entry>;
    const out: Record<string, number> = {};
    for (const name of names) {
      const e = header[name];
      if (!e || !Array.isArray(e.data_offsets)) continue;
      const width = { F64: 8, F32: 4, F16: 2, BF16: 2 }[e.dtype];
      if (!width) continue;
      const buf = Buffer.alloc(width);
      readSync(fd, buf, 0, width, 8 + size + e.data_offsets[0]);
      out[name] =
        e.dtype === 'F64'
          ? buf.readDoubleLE(0)
          : e.dtype === 'F32'
            ? buf.readFloatLE(0)
            : e.dtype === 'F16'
              ? halfToFloat(buf.readUInt16LE(0))
              : new Float32Array(new Uint32Array([buf.readUInt16LE(0) << 16]).buffer)[0];
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
