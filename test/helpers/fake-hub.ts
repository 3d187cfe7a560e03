/**
 * A fake Hugging Face Hub on 127.0.0.1 (node:http, port 0) speaking the two routes huggingface_hub
 * uses: GET /api/models/{id}/revision/{revision} and GET /{id}/resolve/{revision}/{file}, with the
 * Hub's error headers (X-Error-Code) and, on demand, a token check, redirects to a second "CDN"
 * server, and a download that breaks off half-way. Records every request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { PROJECT_ROOT } from '../../src/paths.js';

export const TINY_BERT_DIR = join(PROJECT_ROOT, 'test', 'fixtures', 'tiny-bert');
export const FAKE_SHA = '0123456789abcdef0123456789abcdef01234567';

export interface FakeRepo {
  id: string;
  sha: string;
  /** Repository path -> content. */
  files: Map<string, Buffer>;
}

export interface FakeHubOptions {
  repos: FakeRepo[];
  /** When set, every request needs `Authorization: Bearer <token>`; otherwise 401. */
  token?: string;
  /** `relative`: resolve answers 302 to a path on the same server; `cdn`: 302 to another server (another origin). */
  redirect?: 'none' | 'relative' | 'cdn';
  /** This file is sent with its full Content-Length but the connection is cut after half of it. */
  breakFile?: string;
}

export interface RecordedRequest {
  server: 'hub' | 'cdn';
  url: string;
  authorization: string | undefined;
}

export interface FakeHub {
  url: string;
  requests: RecordedRequest[];
  /** Requests for one file of a repo, on the hub or the CDN. */
  downloadsOf(file: string): RecordedRequest[];
  close(): Promise<void>;
}

/** Every file of a folder, keyed by its path relative to the folder with '/' separators. */
export function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path).split(sep).join('/'), readFileSync(path));
    }
  };
  walk(dir);
  return out;
}

export function tinyBertRepo(id = 'fake-org/tiny-bert', sha = FAKE_SHA): FakeRepo {
  return { id, sha, files: filesOf(TINY_BERT_DIR) };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startFakeHub(options: FakeHubOptions): Promise<FakeHub> {
  const requests: RecordedRequest[] = [];
  const repos = new Map(options.repos.map((r) => [r.id, r]));

  const sendFile = (req: IncomingMessage, res: ServerResponse, content: Buffer, file: string) => {
    if (file === options.breakFile) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': content.length });
      res.write(content.subarray(0, content.length >> 1), () => req.socket.destroy());
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': content.length });
    res.end(content);
  };

  // The "CDN": another origin serving /{id}/{sha}/{file}, like cdn-lfs.huggingface.co.
  const cdn = createServer((req, res) => {
    requests.push({ server: 'cdn', url: req.url ?? '', authorization: req.headers.authorization });
    const m = /^\/([^/]+\/[^/]+)\/([^/]+)\/(.+)$/.exec(req.url ?? '');
    const repo = m ? repos.get(decodeURIComponent(m[1])) : undefined;
    const file = m ? m[3].split('/').map(decodeURIComponent).join('/') : '';
    const content = repo?.files.get(file);
    if (!content) return sendJson(res, 404, { error: 'no such object' });
    sendFile(req, res, content, file);
  });
  const cdnUrl = options.redirect === 'cdn' ? await listen(cdn) : '';

  const hub = createServer((req, res) => {
    const url = req.url ?? '';
    requests.push({ server: 'hub', url, authorization: req.headers.authorization });
    if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' });
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
      return sendJson(res, 401, { error: 'Invalid credentials in Authorization header' }, { 'x-error-code': 'RepoNotFound' });
    }

    const moved = /^\/cdn-moved\/([^/]+\/[^/]+)\/([^/]+)\/(.+)$/.exec(url);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    const match = moved ?? api ?? resolve;
    if (!match) return sendJson(res, 404, { error: 'Not Found' });
    const repo = repos.get(decodeURIComponent(match[1]));
    if (!repo) return sendJson(res, 404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    const revision = decodeURIComponent(match[2]);
    if (revision !== 'main' && revision !== repo.sha) {
      return sendJson(res, 404, { error: `Invalid rev id: ${revision}` }, { 'x-error-code': 'RevisionNotFound' });
    }
    if (api) return sendJson(res, 200, { id: repo.id, sha: repo.sha, siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) });

    const file = match[3].split('/').map(decodeURIComponent).join('/');
    const content = repo.files.get(file);
    if (!content) return sendJson(res, 404, { error: 'Entry not found' }, { 'x-error-code': 'EntryNotFound' });
    if (resolve && options.redirect === 'relative') {
      res.writeHead(302, { location: `/cdn-moved/${repo.id}/${repo.sha}/${match[3]}`, 'content-length': 0 });
      return res.end();
    }
    if (resolve && options.redirect === 'cdn') {
      res.writeHead(302, { location: `${cdnUrl}/${repo.id}/${repo.sha}/${match[3]}`, 'content-length': 0 });
      return res.end();
    }
    sendFile(req, res, content, file);
  });
  const url = await listen(hub);

  return {
    url,
    requests,
    downloadsOf: (file) => requests.filter((r) => !r.url.startsWith('/api/') && r.url.endsWith(`/${file}`)),
    close: async () => {
      await closeServer(hub);
      if (cdnUrl) await closeServer(cdn);
    },
  };
}
