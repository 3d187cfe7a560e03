import { HubApiError, InvalidApiResponseFormatError } from '@huggingface/hub';

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

/** What @huggingface/hub kept of the Hub's explanation ({"error": ...} or a short text body). */
function hubExplanation(e: HubApiError): string {
  const data = e.data as { error?: unknown; message?: unknown } | undefined;
  if (typeof data?.error === 'string') return data.error;
  const text = typeof data?.message === 'string' ? data.message.trim() : '';
  return text.length <= 200 ? text : '';
}

export function httpError(e: HubApiError, c: HubErrorContext): HubHttpError {
  const why = hubExplanation(e);
  const detail = why ? ` (${why})` : '';
  const what = c.file ? `file ${c.file} of model ${c.id} (revision ${c.revision})` : `model ${c.id} (revision ${c.revision})`;
  const status = e.statusCode;
  if (status === 401 || status === 403) {
    const fix = c.tokenSet
      ? `The token in HF_TOKEN (--hf-token) was refused or cannot read it: check that it is valid and has read access.`
      : `It may be private or gated (or not exist): set HF_TOKEN (or --hf-token) to a token that can read it.`;
    const gated = status === 403 ? ` If it is gated, accept its terms at ${c.endpoint}/${c.id} with the account of the token.` : '';
    return new HubHttpError(status, `${c.endpoint} refused access to ${what}: HTTP ${status}${detail}. ${fix}${gated}`);
  }
  if (status === 404) {
    return new HubHttpError(status, `${what} not found on ${c.endpoint}${detail}`);
  }
  return new HubHttpError(status, `${c.endpoint} answered HTTP ${status} for ${what}${detail}`);
}

/** Any failure of a @huggingface/hub call, as one HubError that names the model, the file and the endpoint. */
export function hubError(e: unknown, c: HubErrorContext): HubError {
  if (e instanceof HubError) return e;
  if (e instanceof HubApiError) return httpError(e, c);
  if (e instanceof InvalidApiResponseFormatError || e instanceof SyntaxError) {
    return new HubError(
      `${c.endpoint} gave an answer that is not the Hub's for ${c.file ?? c.id} (${e.message}): is ${c.endpoint} a Hugging Face Hub (HF_ENDPOINT)?`,
    );
  }
  // A write failure (disk full, permissions) is not the Hub's fault: say where.
  if ((e as { syscall?: string }).syscall && (e as { path?: string }).path)
    return new HubError(`cannot write ${(e as { path: string }).path}: ${(e as Error).message}`);
  if (c.file) return new HubUnreachableError(`download of ${c.file} from ${c.endpoint} failed (${networkCause(e)})`);
  return new HubUnreachableError(`cannot reach the Hugging Face Hub at ${c.endpoint} (${networkCause(e)})`);
}

/** Names what went wrong under a failed fetch (ECONNREFUSED, ENOTFOUND, a timeout) rather than "fetch failed". */
export function networkCause(e: unknown): string {
  const err = e as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string; name?: string } };
  if (err?.name === 'TimeoutError' || err?.cause?.name === 'TimeoutError') return err.message ?? 'timed out';
  const cause = err?.cause;
  if (cause?.code && cause.message) return cause.message.includes(cause.code) ? cause.message : `${cause.code}: ${cause.message}`;
  return cause?.message ?? cause?.code ?? err?.code ?? err?.message ?? String(e);
}
