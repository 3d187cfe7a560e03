/**
 * What a JPEG's headers say, read from its markers without decoding: enough to decide whether the
 * WebAssembly decoder (jpeg-wasm.ts) gives exactly what sharp would, or the image goes to sharp.
 */

export interface JpegLayout {
  width: number;
  height: number;
  components: number;
  precision: number;
  /** Baseline, extended or progressive Huffman: what libjpeg's default build decodes. */
  huffman: boolean;
  /** EXIF orientation (1 = as stored; 0 = no tag). */
  orientation: number;
  /** The last two bytes are the end-of-image marker: a file cut short lacks it. */
  complete: boolean;
}

const HUFFMAN_SOF = new Set([0xc0, 0xc1, 0xc2]);
const OTHER_SOF = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** EXIF orientation from an APP1 payload ("Exif\0\0" + TIFF); 0 when absent or unreadable. */
function exifOrientation(b: Uint8Array, start: number, end: number): number {
  if (end - start < 14 || b[start] !== 0x45 || b[start + 1] !== 0x78 || b[start + 2] !== 0x69 || b[start + 3] !== 0x66) return 0;
  const tiff = start + 6;
  const le = b[tiff] === 0x49 && b[tiff + 1] === 0x49;
  if (!le && !(b[tiff] === 0x4d && b[tiff + 1] === 0x4d)) return 0;
  const u16 = (at: number) => (le ? b[at] | (b[at + 1] << 8) : (b[at] << 8) | b[at + 1]);
  const u32 = (at: number) => (le ? u16(at) + u16(at + 2) * 65536 : u16(at) * 65536 + u16(at + 2));
  const ifd = tiff + u32(tiff + 4);
  if (ifd + 2 > end) return 0;
  const entries = u16(ifd);
  for (let i = 0; i < entries; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > end) return 0;
    if (u16(e) === 0x0112) return u16(e + 8);
  }
  return 0;
}

/** The layout of a JPEG, or null when its markers cannot be followed up to the first scan. */
export function jpegLayout(b: Uint8Array): JpegLayout | null {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let orientation = 0;
  let frame: Omit<JpegLayout, 'orientation' | 'complete'> | null = null;
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break;
    const length = (b[at + 2] << 8) | b[at + 3];
    const body = at + 4;
    const end = at + 2 + length;
    if (length < 2 || end > b.length) return null;
    if (marker === 0xe1 && orientation === 0) orientation = exifOrientation(b, body, end);
    if (HUFFMAN_SOF.has(marker) || OTHER_SOF.has(marker)) {
      if (length < 8) return null;
      frame = {
        precision: b[body],
        height: (b[body + 1] << 8) | b[body + 2],
        width: (b[body + 3] << 8) | b[body + 4],
        components: b[body + 5],
        huffman: HUFFMAN_SOF.has(marker),
      };
    }
    at = end;
  }
  if (!frame) return null;
  const complete = b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9;
  return { ...frame, orientation, complete };
}
