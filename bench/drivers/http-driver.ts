/**
 * HTTP driver: POST /embed over keep-alive connections (one per concurrent client, like a pooled
 * client library). The body is read to the end and its status checked, but not parsed: parsing
 * is the client's cost, and the load generator shares the CPU with the server.
 */
import { Agent, request } from 'node:http';
import type { Driver } from './types.js';

export async function httpDriver(baseUrl: string, options: { path?: string; truncate?: boolean } = {}): Promise<Driver> {
  const url = new URL(options.path ?? '/embed', baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, scheduling: 'lifo' });
  const truncate = options.truncate ?? true;

  const embed = (texts: string[]) =>
    new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({ inputs: texts, truncate });
      const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode === 200) return resolve();
          reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`));
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  return { embed, close: () => agent.destroy() };
}
