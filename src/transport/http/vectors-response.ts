import type { Context } from 'hono';
import { vectorsToPackedFloat32 } from '../packed-float32.js';
import { acceptsPackedFloat32 } from './encode.js';
import { vectorsToJsonBytes } from './float-json.js';

/**
 * The body of /embed and /embed_image: JSON rows of floats, or with `Accept: application/octet-stream`
 * packed little-endian float32 rows (no float formatting at all), shaped by two headers.
 */
export function vectorsResponse(c: Context, vectors: readonly Float32Array[]): Response {
  if (acceptsPackedFloat32(c.req.header('accept'))) {
    const packed = vectorsToPackedFloat32(vectors);
    c.header('content-type', 'application/octet-stream');
    c.header('x-embedding-count', String(vectors.length));
    c.header('x-embedding-dimensions', String(packed.dimensions));
    return c.body(packed.bytes);
  }
  c.header('content-type', 'application/json');
  return c.body(vectorsToJsonBytes(vectors));
}
