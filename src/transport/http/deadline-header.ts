/** A client's own deadline over HTTP: `x-request-timeout-ms`, milliseconds from the request's arrival. */
import { quote, validation } from '../../errors.js';

export const TIMEOUT_HEADER = 'x-request-timeout-ms';

/** The deadline (epoch ms) the header sets for a request that arrived at `arrivedAt`; undefined without the header. */
export function headerDeadline(value: string | undefined, arrivedAt: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const ms = Number(text);
  if (!/^[0-9]{1,10}$/.test(text) || ms < 1) {
    throw validation(`the ${TIMEOUT_HEADER} header must be a whole number of milliseconds, at least 1. Given: ${quote(value)}`, TIMEOUT_HEADER);
  }
  return arrivedAt + ms;
}
