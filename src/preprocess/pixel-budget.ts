/**
 * A budget of decoded pixels in flight, shared by every thread that decodes images (the image
 * workers and the main thread) through one SharedArrayBuffer cell. Decoding holds the full-size
 * image (and libvips' copies) until it is resized: 300 queued 20-Mpx PNGs of 59 KB each took 4 GB
 * of RSS without a bound. An image waits, holding only its encoded bytes, until its pixels fit;
 * one image alone always proceeds (--max-image-pixels bounds it).
 */
import { jpegLayout } from './jpeg-layout.js';

/** What crosses threads: the cell (thousands of pixels in flight) and the limit in the same unit. */
export interface PixelBudgetShare {
  cells: SharedArrayBuffer;
  limitKpx: number;
}

export function pixelBudgetShare(limitPixels: number): PixelBudgetShare | undefined {
  return limitPixels > 0 ? { cells: new SharedArrayBuffer(4), limitKpx: Math.max(1, Math.ceil(limitPixels / 1024)) } : undefined;
}

/** Pixels in flight now, under `share`. */
export function pixelsInFlight(share: PixelBudgetShare): number {
  return Atomics.load(new Int32Array(share.cells), 0) * 1024;
}

/** Waits until `pixels` fit the budget, takes them, and returns their release. */
export async function acquirePixels(share: PixelBudgetShare, pixels: number): Promise<() => void> {
  const cell = new Int32Array(share.cells);
  const need = Math.min(Math.ceil(pixels / 1024), 2 ** 30);
  if (need <= 0) return () => {};
  for (;;) {
    const used = Atomics.load(cell, 0);
    if (used === 0 || used + need <= share.limitKpx) {
      if (Atomics.compareExchange(cell, 0, used, used + need) === used) break;
      continue;
    }
    const waiting = Atomics.waitAsync(cell, 0, used);
    if (waiting.async) await waiting.value;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    Atomics.sub(cell, 0, need);
    Atomics.notify(cell, 0);
  };
}

/** width x height from a PNG's or JPEG's header, without decoding; null for other formats (or garbage). */
export function headerPixels(b: Uint8Array): number | null {
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return view.getUint32(16) * view.getUint32(20);
  }
  const jpeg = jpegLayout(b);
  return jpeg ? jpeg.width * jpeg.height : null;
}
