/**
 * Routes as functions from a request to a reply, served by the one Node listener (listener.ts):
 * POST routes with a JSON body, and GET routes.
 */
import { toCoalesceError } from '../../errors.js';
import type { CancelSignal } from '../../core/cancellation.js';
import { vectorsToPackedFloat32 } from '../packed-float32.js';
import { acceptsPackedFloat32 } from './encode.js';
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
