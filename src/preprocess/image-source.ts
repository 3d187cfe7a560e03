/**
 * Turns an image input string into bytes: base64, a `data:` URI, or an http(s) URL (fetched only
 * when --allow-url-fetch is on, within a time and size limit). Every refusal is a 4xx naming the
 * input at fault.
 */
import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { cancelled, clip, CoalesceError, validation } from '../errors.js';
import { RefusedAddress, UrlFetchPolicy } from './url-guard.js';
import { toAbortSignal, type CancelSignal } from '../core/cancellation.js';

export interface ImageSourceOptions {
  allowUrlFetch: boolean;
  fetchTimeoutMs: number;
  fetchMaxBytes: number;
  /** Which addresses fetches may reach (--url-fetch-allow); unset: no inward address. */
  policy?: UrlFetchPolicy;
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

const MAX_REDIRECTS = 5;

/** One GET on a connection the policy checked (literal addresses here, names in its lookup). */
function get(url: URL, policy: UrlFetchPolicy, signal: AbortSignal): Promise<IncomingMessage> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // Node connects to a literal address without a lookup: check it here.
  if (isIP(host) && !policy.permits(host, url.hostname)) return Promise.reject(new RefusedAddress(url.hostname));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // agent: false: a fresh connection per request, so every one goes through the lookup.
    const req = request(url, { method: 'GET', agent: false, lookup: policy.lookup, signal, headers: { accept: 'image/*' } }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function readCapped(response: IncomingMessage, max: number, url: string, where: string): Promise<Uint8Array> {
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    response.destroy();
    throw new CoalesceError('payload_too_large', `${where}: ${clip(url)} is ${declared} bytes, over --url-fetch-max-bytes ${max}`, 'inputs');
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max) {
      response.destroy();
      throw new CoalesceError('payload_too_large', `${where}: ${clip(url)} is over --url-fetch-max-bytes ${max}`, 'inputs');
    }
    chunks.push(chunk);
  }
  // Its own buffer (Buffer.concat may slice Node's shared pool): the caller can transfer it to a worker.
  const bytes = new Uint8Array(total);
  chunks.reduce((at, c) => (bytes.set(c, at), at + c.length), 0);
  return bytes;
}

async function fetchImage(input: URL, options: ImageSourceOptions, where: string, signal?: CancelSignal): Promise<Uint8Array> {
  if (!options.allowUrlFetch) {
    throw validation(
      `${where} is a URL, and fetching URLs is off: send the image as base64 or a data: URI, or start the server with --allow-url-fetch`,
      'inputs',
    );
  }
  const shown = clip(input.href);
  const timeout = AbortSignal.timeout(options.fetchTimeoutMs);
  const both = signal ? AbortSignal.any([toAbortSignal(signal), timeout]) : timeout;
  const policy = options.policy ?? new UrlFetchPolicy(null);
  let url = input;
  try {
    for (let redirects = 0; ; redirects++) {
      const response = await get(url, policy, both);
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status >= 300 && status < 400 && location) {
        response.destroy();
        if (redirects >= MAX_REDIRECTS) throw validation(`${where}: fetching ${shown} redirected more than ${MAX_REDIRECTS} times`, 'inputs');
        url = new URL(location, url);
        if (url.protocol !== 'http:' && url.protocol !== 'https:')
          throw validation(`${where}: fetching ${shown} redirected to a URL that is not http(s)`, 'inputs');
        continue;
      }
      if (status < 200 || status >= 300) {
        response.destroy();
        throw validation(`${where}: fetching ${shown} answered HTTP ${status}`, 'inputs');
      }
      return await readCapped(response, options.fetchMaxBytes, shown, where);
    }
  } catch (e) {
    if (e instanceof CoalesceError) throw e;
    if (signal?.aborted) throw cancelled();
    if (timeout.aborted) throw validation(`${where}: fetching ${shown} took longer than ${options.fetchTimeoutMs} ms (--url-fetch-timeout-ms)`, 'inputs');
    if (e instanceof RefusedAddress) {
      throw validation(
        `${where}: ${shown} points to a loopback, private, link-local or otherwise internal address; the server fetches those only from hosts --url-fetch-allow names`,
        'inputs',
      );
    }
    // One message for every connection failure: which hosts and ports answer is not the client's to learn.
    throw validation(`${where}: could not fetch ${shown}`, 'inputs');
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
  return fetchImage(url, options, where, signal);
}

/** True when the string looks like an image input rather than text (data: URI of an image). */
export function isImageDataUri(input: string): boolean {
  return /^data:image\//i.test(input.slice(0, 16));
}
