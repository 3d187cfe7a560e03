#!/usr/bin/env node
/** `coalesce`: parses the config, starts the server, drains on SIGTERM / SIGINT. */
import { ConfigError, helpText, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { ModelError } from './model-prep/model-error.js';
import { startCoalesce, type Coalesce } from './server.js';
import { drainAndExit } from './drain.js';
import { removeSocketFile } from './transport/unix-socket.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(argv);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`coalesce: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config.logFormat);
  let app: Coalesce | null = null;
  let stopping = false;
  // Registered before the model loads: a signal during start-up must not kill the process
  // half-way through writing the default model, nor leave a server listening without handlers.
  // A first signal drains (drain.ts); a second one, or the timeout, cuts what is left.
  const stop = (signal: string) => {
    if (stopping) {
      log('second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    if (!app) process.exit(0);
    void drainAndExit(app, config, log, signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    app = await startCoalesce(config, log);
  } catch (e) {
    const prefix = e instanceof ModelError ? 'cannot serve the model' : 'cannot start';
    log(`${prefix}: ${(e as Error).message}`);
    process.exit(1);
  }
  // Only sockets this process bound: a start refused because a live server holds the path must not remove it.
  process.on('exit', () => {
    for (const path of [config.udsPath, config.grpcUdsPath]) if (path) removeSocketFile(path);
  });
  if (stopping) {
    await app.close();
    process.exit(0);
  }
  log('ready', { pid: process.pid });
}

void main();
