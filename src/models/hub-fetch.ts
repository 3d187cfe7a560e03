/**
 * The fetch that @huggingface/hub calls. The library sends requests and follows redirects (fetch
 * drops the Authorization header on a redirect to another origin, so a CDN never sees the token);
 * it sets no time limit and no user agent. Added here: a user agent, the token (to the endpoint's
 * origin only, without the library's check that tokens start with "hf_", which mirrors need not
 * follow), and two time limits naming the endpoint: for the answer and for a body that stalls.
 */
import { VERSION } from '../version.js';
import { HubUnreachableError } from './hub-errors.js';

/** Until the response headers arrive (huggingface_hub waits 10 s for its metadata call). */
export const ANSWER_TIMEOUT_MS = 10_000;
/** A body that receives nothing for this long is abandoned. */
export const STALL_TIMEOUT_MS = 60_000;

const USER_AGENT = `coalesce/${VERSION}; node/${process.versions.node}`;

export function hubFetch(endpoint: string, token: string | null): typeof fetch {
  const origin = new URL(endpoint).origin;
  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init.headers);
    headers.set('user-agent', USER_AGENT);
    if (token && url.origin === origin) headers.set('authorization', `Bearer ${token}`);
    const controller = new AbortController();
    const timeout = (ms: number, why: string) => setTimeout(() => controller.abort(new HubUnreachableError(why)), ms).unref();

    const answer = timeout(ANSWER_TIMEOUT_MS, `cannot reach the Hugging Face Hub at ${endpoint} (no answer within ${ANSWER_TIMEOUT_MS / 1000} s)`);
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers, signal: controller.signal });
    } catch (e) {
      throw controller.signal.aborted ? controller.signal.reason : e;
    } finally {
      clearTimeout(answer);
    }
    if (!res.body) return res;
    const stall = timeout(STALL_TIMEOUT_MS, `download from ${endpoint} stalled (nothing received for ${STALL_TIMEOUT_MS / 1000} s)`);
    const body = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          stall.refresh();
          out.enqueue(chunk);
        },
        flush: () => clearTimeout(stall),
      }),
    );
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
