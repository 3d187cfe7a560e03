/** Hub failures, worded for the one start-up message main.ts prints. */
export class HubError extends Error {
  override name = 'HubError';
}

/** The endpoint could not be reached (refused, DNS, timeout, cut connection): a cached copy may stand in. */
export class HubUnreachableError extends HubError {
  override name = 'HubUnreachableError';
}

/** The endpoint answered with an HTTP error. */
export class HubHttpError extends HubError {
  override name = 'HubHttpError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface HubErrorContext {
  id: string;
  revision: string;
  endpoint: string;
  tokenSet: boolean;
  /** The file being downloaded; unset for the repository listing. */
  file?: string;
}

/** The Hub explains errors in X-Error-Message, or a JSON body {"error": ...}. */
async function hubExplanation(res: Response): Promise<string> {
  const header = res.headers.get('x-error-message');
  if (header) return header;
  try {
    const text = (await res.text()).slice(0, 2000);
    try {
      const body = JSON.parse(text) as { error?: unknown };
      if (typeof body.error === 'string') return body.error;
    } catch {
      // not JSON: a short plain-text body is still worth showing
    }
    return text.length <= 200 ? text.trim() : '';
  } catch {
    return '';
  }
}

export async function httpError(res: Response, c: HubErrorContext): Promise<HubHttpError> {
  const why = await hubExplanation(res);
  const detail = why ? ` (${why})` : '';
  const code = res.headers.get('x-error-code') ?? '';
  const what = c.file ? `file ${c.file} of model ${c.id} (revision ${c.revision})` : `model ${c.id} (revision ${c.revision})`;
  const status = res.status;
  if (status === 401 || status === 403 || code === 'GatedRepo') {
    const gated = code === 'GatedRepo' ? ` It is gated: accept its terms at ${c.endpoint}/${c.id} with the account of the token.` : '';
    const fix = c.tokenSet
      ? `The token in HF_TOKEN (--hf-token) was refused or cannot read it: check that it is valid and has read access.`
      : `It may be private or gated (or not exist): set HF_TOKEN (or --hf-token) to a token that can read it.`;
    return new HubHttpError(status, `${c.endpoint} refused access to ${what}: HTTP ${status}${detail}. ${fix}${gated}`);
  }
  if (status === 404) {
    return new HubHttpError(status, `${what} not found on ${c.endpoint}${detail}`);
  }
  return new HubHttpError(status, `${c.endpoint} answered HTTP ${status} for ${what}${detail}`);
}

/** Names what went wrong under a failed fetch (ECONNREFUSED, ENOTFOUND, a timeout) rather than "fetch failed". */
export function networkCause(e: unknown): string {
  const err = e as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string; name?: string } };
  if (err?.name === 'TimeoutError' || err?.cause?.name === 'TimeoutError') return err.message ?? 'timed out';
  const cause = err?.cause;
  if (cause?.code && cause.message) return cause.message.includes(cause.code) ? cause.message : `${cause.code}: ${cause.message}`;
  return cause?.message ?? cause?.code ?? err?.code ?? err?.message ?? String(e);
}
