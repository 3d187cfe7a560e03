/**
 * HTTP to the Hub with global fetch: redirects followed by hand (so the token never leaves the
 * endpoint's origin, as requests does for huggingface_hub's CDN redirects), time limits that name
 * the endpoint, and downloads that land under their final name only once complete.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { VERSION } from '../version.js';
import { HubError, HubUnreachableError, httpError, networkCause, type HubErrorContext } from './hub-errors.js';

const MAX_REDIRECTS = 10;
/** Until the response headers arrive (huggingface_hub waits 10 s for its metadata call). */
export const ANSWER_TIMEOUT_MS = 10_000;
/** A download that receives nothing for this long is abandoned. */
export const STALL_TIMEOUT_MS = 60_000;
/** Files from this size get a line with their size and speed; from BIG_FILE_BYTES also periodic progress. */
const REPORTED_FILE_BYTES = 1 << 20;
const BIG_FILE_BYTES = 32 << 20;
const PROGRESS_EVERY_MS = 5_000;

const USER_AGENT = `coalesce/${VERSION}; node/${process.versions.node}`;

/** An AbortController that fires after a quiet period; refresh() restarts the period. */
class Watchdog {
  readonly controller = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  arm(ms: number, message: string): void {
    this.clear();
    this.timer = setTimeout(() => this.controller.abort(new HubUnreachableError(message)), ms);
  }
  refresh(): void {
    this.timer?.refresh();
  }
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
}

/** Path segments encoded one by one: `org/name` and `onnx/model.onnx` keep their slashes. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export function repoInfoUrl(endpoint: string, id: string, revision: string): string {
  return `${endpoint}/api/models/${encodePath(id)}/revision/${encodeURIComponent(revision)}`;
}

export function resolveUrl(endpoint: string, id: string, revision: string, file: string): string {
  return `${endpoint}/${encodePath(id)}/resolve/${encodeURIComponent(revision)}/${encodePath(file)}`;
}

function unreachable(endpoint: string, e: unknown): HubError {
  if (e instanceof HubError) return e;
  return new HubUnreachableError(`cannot reach the Hugging Face Hub at ${endpoint} (${networkCause(e)})`);
}

async function fetchFollowingRedirects(url: string, token: string | null, signal: AbortSignal, extra: Record<string, string> = {}): Promise<Response> {
  const origin = new URL(url).origin;
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...extra };
    if (token && new URL(current).origin === origin) headers.authorization = `Bearer ${token}`;
    const res = await fetch(current, { headers, redirect: 'manual', signal });
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      current = new URL(location, current).toString();
      continue;
    }
    return res;
  }
  throw new HubError(`${url}: more than ${MAX_REDIRECTS} redirects`);
}

export interface RepoInfo {
  sha: string;
  siblings: string[];
}

/** GET /api/models/{id}/revision/{revision}: the commit the revision points to and the files it holds. */
export async function fetchRepoInfo(ctx: HubErrorContext, token: string | null): Promise<RepoInfo> {
  const url = repoInfoUrl(ctx.endpoint, ctx.id, ctx.revision);
  const watchdog = new Watchdog();
  watchdog.arm(ANSWER_TIMEOUT_MS, `cannot reach the Hugging Face Hub at ${ctx.endpoint} (no answer within ${ANSWER_TIMEOUT_MS / 1000} s)`);
  try {
    let res: Response;
    try {
      res = await fetchFollowingRedirects(url, token, watchdog.signal);
    } catch (e) {
      throw unreachable(ctx.endpoint, e);
    }
    if (!res.ok) throw await httpError(res, ctx);
    let body: unknown;
    try {
      body = await res.json();
    } catch (e) {
      if (watchdog.signal.aborted) throw unreachable(ctx.endpoint, watchdog.signal.reason);
      throw new HubError(`${ctx.endpoint} answered ${url} with something that is not JSON: is ${ctx.endpoint} a Hugging Face Hub (HF_ENDPOINT)?`);
    }
    const info = body as { sha?: unknown; siblings?: unknown };
    const siblings = Array.isArray(info.siblings) ? info.siblings.map((s) => (s as { rfilename?: unknown })?.rfilename) : null;
    if (typeof info.sha !== 'string' || siblings === null || !siblings.every((f): f is string => typeof f === 'string')) {
      throw new HubError(`${ctx.endpoint} answered ${url} without a commit sha and file list: is ${ctx.endpoint} a Hugging Face Hub (HF_ENDPOINT)?`);
    }
    return { sha: info.sha, siblings };
  } finally {
    watchdog.clear();
  }
}

export const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);
const seconds = (ms: number): string => (ms / 1000).toFixed(1);
const rate = (bytes: number, ms: number): string => (bytes / 1e6 / Math.max(ms / 1000, 1e-3)).toFixed(1);

export interface DownloadOptions {
  ctx: HubErrorContext & { file: string };
  token: string | null;
  /** Folder for the temporary file; on the destination's file system so the final rename is atomic. */
  tmpDir: string;
  log: (message: string) => void;
}

/** Downloads url to dest through a temporary file; returns the bytes written. dest never exists half-written. */
export async function downloadFile(url: string, dest: string, o: DownloadOptions): Promise<number> {
  const { ctx } = o;
  await mkdir(o.tmpDir, { recursive: true });
  const tmp = join(o.tmpDir, `${ctx.file.replace(/\//g, '--')}.${process.pid}-${randomBytes(4).toString('hex')}.incomplete`);
  const watchdog = new Watchdog();
  watchdog.arm(ANSWER_TIMEOUT_MS, `cannot download ${ctx.file} from ${ctx.endpoint} (no answer within ${ANSWER_TIMEOUT_MS / 1000} s)`);
  const started = performance.now();
  let bytes = 0;
  try {
    let res: Response;
    try {
      res = await fetchFollowingRedirects(url, o.token, watchdog.signal, { 'accept-encoding': 'identity' });
    } catch (e) {
      throw unreachable(ctx.endpoint, e);
    }
    if (!res.ok) throw await httpError(res, ctx);
    if (!res.body) throw new HubError(`${ctx.endpoint} sent no body for ${ctx.file}`);
    const length = Number(res.headers.get('content-length'));
    const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
    const total = !encoded && Number.isSafeInteger(length) && length >= 0 && res.headers.has('content-length') ? length : null;
    if (total !== null && total >= BIG_FILE_BYTES) o.log(`downloading ${ctx.file} (${mb(total)} MB)`);

    watchdog.arm(STALL_TIMEOUT_MS, `download of ${ctx.file} from ${ctx.endpoint} stalled (nothing received for ${STALL_TIMEOUT_MS / 1000} s)`);
    let lastReport = started;
    const count = async function* (source: AsyncIterable<Uint8Array>) {
      for await (const chunk of source) {
        bytes += chunk.length;
        watchdog.refresh();
        const now = performance.now();
        if (total !== null && total >= BIG_FILE_BYTES && now - lastReport >= PROGRESS_EVERY_MS) {
          lastReport = now;
          o.log(`downloading ${ctx.file}: ${mb(bytes)} / ${mb(total)} MB (${Math.floor((100 * bytes) / total)} %), ${rate(bytes, now - started)} MB/s`);
        }
        yield chunk;
      }
    };
    try {
      await pipeline(Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>), count, createWriteStream(tmp));
    } catch (e) {
      if (watchdog.signal.aborted) throw watchdog.signal.reason;
      if (e instanceof HubError) throw e;
      const cause = networkCause(e);
      // A write failure (disk full, permissions) is not the Hub's fault: say where.
      if ((e as { syscall?: string }).syscall) throw new HubError(`cannot write ${tmp}: ${(e as Error).message}`);
      throw new HubUnreachableError(`download of ${ctx.file} from ${ctx.endpoint} broke off after ${bytes}${total !== null ? ` of ${total}` : ''} bytes (${cause})`);
    }
    if (total !== null && bytes !== total) {
      throw new HubUnreachableError(`download of ${ctx.file} from ${ctx.endpoint} ended after ${bytes} of ${total} bytes`);
    }
    // Flushed before the rename, so a crash cannot leave a complete-looking but empty file.
    const handle = await open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await mkdir(dirname(dest), { recursive: true });
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  } finally {
    watchdog.clear();
  }
  const ms = performance.now() - started;
  if (bytes >= REPORTED_FILE_BYTES) o.log(`downloaded ${ctx.file}: ${mb(bytes)} MB in ${seconds(ms)} s (${rate(bytes, ms)} MB/s)`);
  return bytes;
}
