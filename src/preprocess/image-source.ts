/**
 * Turns an image input string into bytes: base64, a `data:` URI, or an http(s) URL (fetched only
 * when --allow-url-fetch is on, within a time and size limit). Every refusal is a 4xx naming the
 * input at fault.
 */
import { cancelled, CoalesceError, validation } from '../errors.js';
import { toAbortSignal, type CancelSignal } from '../core/cancellation.js';

export interface ImageSourceOptions {
  allowUrlFetch: boolean;
  fetchTimeoutMs: number;
  fetchMaxBytes: number;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DATA_URI = /^data:([^,;]*)((?:;[^,;]*)*),/i;

function decodeBase64(text: string, where: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0) throw validation(`${where} is empty: send a base64 image, a data: URI or an http(s) URL`, 'inputs');
  if (!BASE64.test(compact) || compact.length % 4 === 1) {
    throw validation(`${where} is not base64, a data: URI or an http(s) URL`, 'inputs');
  }
  return Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
}

function decodeDataUri(text: string, where: string): Uint8Array {
  const m = DATA_URI.exec(text);
  if (!m) throw validation(`${where} is a malformed data: URI (expected data:image/...;base64,...)`, 'inputs');
  const mediaType = m[1].trim().toLowerCase();
  if (mediaType !== '' && !mediaType.startsWith('image/') && mediaType !== 'application/octet-stream') {
    throw validation(`${where} is a data: URI of type '${mediaType}', not an image`, 'inputs');
  }
  if (!/;base64$/i.test(m[2])) throw validation(`${where}: only base64 data: URIs are supported (add ;base64)`, 'inputs');
  return decodeBase64(text.slice(m[0].length), where);
}

async function readCapped(response: Response, max: number, url: string, where: string): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    throw new CoalesceError('payload_too_large', `${where}: ${url} is ${declared} bytes, over --url-fetch-max-bytes ${max}`, 'inputs');
  }
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new CoalesceError('payload_too_large', `${where}: ${url} is over --url-fetch-max-bytes ${max}`, 'inputs');
    }
    chunks.push(value);
  }
  // Its own buffer (Buffer.concat may slice Node's shared pool): the caller can transfer it to a worker.
  const bytes = new Uint8Array(total);
  chunks.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
  return bytes;
}

async function fetchImage(url: string, options: ImageSourceOptions, where: string, signal?: CancelSignal): Promise<Uint8Array> {
  if (!options.allowUrlFetch) {
    throw validation(`${where} is a URL, and fetching URLs is off: send the image as base64 or a data: URI, or start the server with --allow-url-fetch`, 'inputs');
  }
  const timeout = AbortSignal.timeout(options.fetchTimeoutMs);
  const both = signal ? AbortSignal.any([toAbortSignal(signal), timeout]) : timeout;
  try {
    const response = await fetch(url, { signal: both, redirect: 'follow', headers: { accept: 'image/*' } });
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw validation(`${where}: fetching ${url} answered HTTP ${response.status}`, 'inputs');
    }
    return await readCapped(response, options.fetchMaxBytes, url, where);
  } catch (e) {
    if (e instanceof CoalesceError) throw e;
    if (signal?.aborted) throw cancelled();
    if (timeout.aborted) throw validation(`${where}: fetching ${url} took longer than ${options.fetchTimeoutMs} ms (--url-fetch-timeout-ms)`, 'inputs');
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw validation(`${where}: fetching ${url} failed (${cause?.code ?? cause?.message ?? (e as Error).message})`, 'inputs');
  }
}

const headOf = (input: string) => input.slice(0, 16).trimStart().toLowerCase();

/** An http(s) URL input (fetched, not decoded). */
export function isUrl(input: string): boolean {
  const head = headOf(input);
  return head.startsWith('http://') || head.startsWith('https://');
}

/** Bytes of a base64 or data: URI input (any input but an http(s) URL); `where` names it in errors. */
export function decodeImageText(input: string, where: string): Uint8Array {
  const head = headOf(input);
  if (head.startsWith('data:')) return decodeDataUri(input.trim(), where);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(head)) {
    throw validation(`${where}: only http(s) URLs can be fetched`, 'inputs');
  }
  return decodeBase64(input, where);
}

/** Bytes of one image input; `where` names it in errors (e.g. "inputs[2]"). */
export async function loadImageBytes(input: string, options: ImageSourceOptions, where: string, signal?: CancelSignal): Promise<Uint8Array> {
  if (!isUrl(input)) return decodeImageText(input, where);
  let url: URL;
  try {
    url = new URL(input.trim());
  } catch {
    throw validation(`${where} is not a valid URL`, 'inputs');
  }
  return fetchImage(url.href, options, where, signal);
}

/** True when the string looks like an image input rather than text (data: URI of an image). */
export function isImageDataUri(input: string): boolean {
  return /^data:image\//i.test(input.slice(0, 16));
}
