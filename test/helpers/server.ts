import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startCoalesce, type Coalesce } from '../../src/server.js';

export const TINY_BERT = 'test/fixtures/tiny-bert';

/** The real server on ephemeral ports, quiet. */
export function startServer(args: string[] = [], model = TINY_BERT): Promise<Coalesce> {
  return startCoalesce(loadConfig(['--model', model, '--port', '0', '--grpc-port', '0', '--hostname', '127.0.0.1', ...args], {}), silentLogger);
}

export async function post(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON: the assertion will say so */
  }
  return { status: res.status, json, headers: res.headers };
}

export { cosine } from '../../bench/cosine.js';

/** Tolerant float comparison: every component within atol + rtol * |expected|. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = 'vector'): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > atol + rtol * Math.abs(expected[i])) {
      throw new Error(`${what}[${i}]: ${actual[i]} is not close to ${expected[i]}`);
    }
  }
}
