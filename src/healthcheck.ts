#!/usr/bin/env node
/**
 * `node dist/src/healthcheck.js`: exits 0 when this container's server answers GET /health with
 * 200, else 1. It reads the server's own options from the environment (PORT, HOSTNAME_BIND,
 * UDS_PATH), so it checks whatever socket the server was told to use; images need no curl.
 */
import { request } from 'node:http';
import { loadConfig } from './config.js';
import { reachableHostPort } from './transport/host-port.js';

const TIMEOUT_MS = 3000;

const config = loadConfig([], process.env);
const where = config.udsPath
  ? { socketPath: config.udsPath }
  : (() => {
      const url = new URL(`http://${reachableHostPort(config.hostname, config.port)}`);
      return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
    })();
const req = request({ ...where, path: '/health', method: 'GET', timeout: TIMEOUT_MS }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)));
req.on('error', (e) => {
  process.stderr.write(`healthcheck: ${e.message}\n`);
  process.exit(1);
});
req.end();
