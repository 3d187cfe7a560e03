/**
 * What every facade (text, image) does around a request: admission with its observer, the
 * checks shared by all inputs, and draining. One place, so text and images cannot drift apart.
 */
import { CoalesceError, validation } from '../errors.js';
import type { Admission } from './admission.js';
import type { Timings } from './types.js';

/** Hooks for metrics; the core does not know how they are exported. */
export interface EmbedObserver {
  requestStarted(): void;
  requestFinished(ok: boolean, timings: Timings | null): void;
}

/** Runs `work` holding an admission permit; refuses at once when not ready or overloaded. */
export async function runAdmitted<T>(
  ready: boolean,
  admission: Admission,
  observer: EmbedObserver | undefined,
  work: () => Promise<T>,
  timingsOf: (result: T) => Timings | null,
): Promise<T> {
  observer?.requestStarted();
  let release: (() => void) | null = null;
  try {
    if (!ready) throw new CoalesceError('unhealthy', 'the model is not ready');
    release = admission.acquire();
    const result = await work();
    observer?.requestFinished(true, timingsOf(result));
    return result;
  } catch (e) {
    observer?.requestFinished(false, null);
    throw e;
  } finally {
    release?.();
  }
}

/** Resolves once no admitted request is left: requests still tokenizing or decoding have not reached a batcher yet. */
export async function admittedRequestsDone(admission: Admission): Promise<void> {
  while (admission.inUse > 0) await new Promise((r) => setTimeout(r, 5));
}

export function checkInputCount(count: number, maxClientBatchSize: number): void {
  if (count === 0) throw new CoalesceError('empty', 'Input validation error: `inputs` cannot be empty');
  if (count > maxClientBatchSize) {
    throw validation(
      `Input validation error: \`inputs\` must have less than ${maxClientBatchSize} elements (--max-client-batch-size). Given: ${count}`,
      'inputs',
    );
  }
}

export function checkDimensions(dimensions: number | undefined, modelDimensions: number): void {
  if (dimensions !== undefined && (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > modelDimensions)) {
    throw validation(`Input validation error: \`dimensions\` must be an integer between 1 and ${modelDimensions}. Given: ${dimensions}`, 'dimensions');
  }
}
