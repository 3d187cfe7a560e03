/**
 * One shard of the closed-loop HTTP load generator (several run as separate processes, so the
 * client side is never what limits the server). Each client sends its next request as soon as
 * the previous one answered; only answers that arrive inside [windowStart, windowEnd] (epoch ms,
 * shared by every shard) count.
 *
 * usage: node loader.js <file of a JSON LoaderTask>  -> prints `RESULT {...}` (child.ts runs it)
 */
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { childPayload } from './child.js';
import { LeanConnection, requestBytes } from '../lean-http.js';

export interface LoaderTask {
  url: string;
  /** Route posted to; /embed unless set (the image bench posts to /embed_image). */
  path?: string;
  /** Response headers summed over the answers that count (the server's per-request timings). */
  sumHeaders?: string[];
  /** One request body per entry, with the tokens it carries. */
  bodiesFile: string;
  shard: number;
  shards: number;
  clients: number;
  accept: 'json' | 'binary';
  windowStart: number;
  windowEnd: number;
  /** Texts per request and the vector width, to check the first answers. */
  textsPerRequest: number;
  dimensions: number;
  /** HTTP client: node:http with a keep-alive Agent, or lean-http.ts (one socket per client, like wrk). */
  client: 'node' | 'lean';
}

const now = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const task = childPayload<LoaderTask>();
  const all = JSON.parse(readFileSync(task.bodiesFile, 'utf8')) as { body: string; tokens: number }[];
  const bodies = all.map((b) => ({ body: Buffer.from(b.body), tokens: b.tokens }));
  const agent = new Agent({ keepAlive: true, maxSockets: task.clients });
  const target = new URL(task.url + (task.path ?? '/embed'));
  const headerSums: Record<string, number> = Object.fromEntries((task.sumHeaders ?? []).map((h) => [h, 0]));
  const headers = {
    'content-type': 'application/json',
    accept: task.accept === 'binary' ? 'application/octet-stream' : 'application/json',
  };
  const latencies: number[] = [];
  let tokens = 0;
  let requests = 0;
  let errors = 0;
  let firstError: string | null = null;
  let checked = 0;

  type Answer = { status: number; body: Buffer; headers: Record<string, unknown> };
  const leanRequests = task.client === 'lean' ? bodies.map((b) => requestBytes(target.host, target.pathname, headers, b.body)) : [];
  const connections: LeanConnection[] = [];
  /** One client's way to send body i: its own lean connection, or node:http's shared Agent. */
  const sender = (): ((i: number) => Promise<Answer>) => {
    if (task.client !== 'lean') return send;
    const connection = new LeanConnection(target.hostname, Number(target.port));
    connections.push(connection);
    return (i) => connection.send(leanRequests[i % leanRequests.length]);
  };
  const send = (i: number) =>
    new Promise<Answer>((resolve, reject) => {
      const b = bodies[i % bodies.length];
      const req = request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { ...headers, 'content-length': b.body.length } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(b.body);
    });

  const client = async (c: number) => {
    const send = sender();
    // Clients start at spread-out offsets; the global index keeps shards on different texts.
    let i = task.shard + task.shards * c * 997;
    while (now() < task.windowEnd) {
      const started = now();
      const idx = i;
      i += task.shards * task.clients;
      try {
        const res = await send(idx);
        const ended = now();
        if (res.status !== 200) throw new Error(`status ${res.status}: ${res.body.toString().slice(0, 200)}`);
        if (checked < 3) {
          checked++;
          const want = task.textsPerRequest * task.dimensions;
          const got = task.accept === 'binary' ? res.body.length / 4 : (JSON.parse(res.body.toString()) as number[][]).flat().length;
          if (got !== want) throw new Error(`answer has ${got} numbers, expected ${want}`);
        }
        if (ended >= task.windowStart && ended <= task.windowEnd) {
          latencies.push(ended - started);
          tokens += bodies[idx % bodies.length].tokens;
          requests++;
          for (const h in headerSums) headerSums[h] += Number(res.headers[h]);
        }
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: task.clients }, (_, c) => client(c)));
  agent.destroy();
  for (const c of connections) c.close();
  process.stdout.write('RESULT ' + JSON.stringify({ shard: task.shard, requests, tokens, errors, firstError, latencies, headerSums }) + '\n');
}

main().catch((e) => {
  process.stdout.write('RESULT ' + JSON.stringify({ error: (e as Error).message }) + '\n', () => process.exit(1));
});
