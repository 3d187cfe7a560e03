/**
 * Graceful shutdown, in the order load balancers need: first say "not ready" while still serving
 * (so endpoints and upstream health checks take this replica out), then stop accepting, answer
 * everything already on a connection, release the model, and exit 0. Exits 1 if the timeout cut
 * something short.
 */
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Coalesce } from './server.js';

export async function drainAndExit(app: Coalesce, config: Pick<Config, 'shutdownGraceMs' | 'shutdownTimeoutMs'>, log: Logger, signal: string): Promise<never> {
  log('draining', { signal, graceMs: config.shutdownGraceMs, timeoutMs: config.shutdownTimeoutMs });
  app.drain();
  await new Promise((r) => setTimeout(r, config.shutdownGraceMs));
  log('closing listeners');
  const timeout = setTimeout(() => {
    log('shutdown timed out: cutting what is left', { timeoutMs: config.shutdownTimeoutMs });
    process.exit(1);
  }, config.shutdownTimeoutMs);
  try {
    await app.close();
  } catch (e) {
    log(`shutdown failed: ${(e as Error).message}`);
    process.exit(1);
  }
  clearTimeout(timeout);
  log('stopped');
  process.exit(0);
}
