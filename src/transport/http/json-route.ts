/**
 * Routes as functions from a request to a reply, served by the one Node listener (listener.ts):
 * POST routes with a JSON body, and GET routes.
 */
import { toCoalesceError } from '../../errors.js';
import type { CancelSignal } from '../../core/cancellation.js';
import { vectorsToPackedFloat32 } from '../packed-float32.js';
import type { EncodedVector, Encoding } from '../../core/quantize.js';
import { packRows } from '../vector-encodings.js';
import { acceptsPackedFloat32, encodedVectorJson } from './encode.js';
import { errorBody, httpStatus, type ErrorStyle } from './errors.js';
import { vectorsToJsonBytes } from './float-json.js';
import type { Body } from './parse.js';

export interface RouteRequest {
  /** The body, already parsed as a JSON object. */
  body: Body;
  /** A request header by its lower-case name. */
  header(name: string): string | undefined;
  /** Aborts when the client goes away; the same signal every time it is asked for. */
  signal(): CancelSignal;
  /** The client's deadline from x-request-timeout-ms (epoch ms), undefined without one; a malformed header throws 'validation'. */
  deadline(): number | undefined;
}

/**
 * A response as plain data: Node writes it as it is, and hono sends it without a Headers object.
 * Each reply owns its `headers`: the helpers below and the listener add to them in place.
 */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

export interface JsonRoute {
  path: string;
  /** Whose error shape the route answers in. */
  style: ErrorStyle;
  /** The route whose body and answer this one shares, for the OpenAPI document (`POST /` answers as the model kind's route). */
  docAs?: string;
  handle(request: RouteRequest): Promise<Reply>;
}

/** A GET (and HEAD) route: no body. */
export interface GetRoute {
  path: string;
  handle(request: Pick<RouteRequest, 'header'>): Reply | Promise<Reply>;
}

/** A JSON body already encoded (vectors are written by hand: float-json.ts, encode.ts). */
export function encodedJsonReply(body: string | Uint8Array, headers: Record<string, string> = {}, status = 200): Reply {
  headers['content-type'] = 'application/json';
  return { status, headers, body };
}

export function jsonReply(value: unknown, status = 200): Reply {
  return encodedJsonReply(JSON.stringify(value), {}, status);
}

export function errorReply(thrown: unknown, style: ErrorStyle): Reply {
  const error = toCoalesceError(thrown);
  return jsonReply(errorBody(error, style), httpStatus(error, style));
}

/**
 * The body of /embed and /embed_image: JSON rows of floats, or with `Accept: application/octet-stream`
 * packed little-endian float32 rows (no float formatting at all), shaped by two headers.
 */
export function vectorsReply(request: RouteRequest, vectors: readonly Float32Array[], headers: Record<string, string>): Reply {
  if (acceptsPackedFloat32(request.header('accept'))) {
    const packed = vectorsToPackedFloat32(vectors);
    headers['content-type'] = 'application/octet-stream';
    headers['x-embedding-count'] = String(vectors.length);
    headers['x-embedding-dimensions'] = String(packed.dimensions);
    return { status: 200, headers, body: packed.bytes };
  }
  return encodedJsonReply(vectorsToJsonBytes(vectors), headers);
}

/**
 * /embed with an `encoding_format` other than float: JSON rows (integers, or base64 strings), or
 * with `Accept: application/octet-stream` the rows' bytes back to back. `dimensions` is the
 * vectors' width before encoding; x-embedding-row-bytes says how many bytes each row takes.
 */
export function encodedVectorsReply(
  request: RouteRequest,
  rows: readonly EncodedVector[],
  encoding: Encoding,
  dimensions: number,
  headers: Record<string, string>,
): Reply {
  if (encoding === 'float') return vectorsReply(request, rows as Float32Array[], headers);
  if (acceptsPackedFloat32(request.header('accept'))) {
    const packed = packRows(rows);
    headers['content-type'] = 'application/octet-stream';
    headers['x-embedding-count'] = String(rows.length);
    headers['x-embedding-dimensions'] = String(rows.length > 0 ? dimensions : 0);
    headers['x-embedding-encoding'] = encoding === 'base64' ? 'float' : encoding;
    headers['x-embedding-row-bytes'] = String(packed.rowBytes);
    return { status: 200, headers, body: packed.bytes };
  }
  return encodedJsonReply(`[${rows.map((row) => encodedVectorJson(row, encoding)).join(',')}]`, headers);
}
