/**
 * A fake Hugging Face Hub on 127.0.0.1 (node:http, port 0) speaking the routes @huggingface/hub
 * calls: GET /api/models/{id}/revision/{revision} (the commit and file list), POST
 * /api/models/{id}/paths-info/{revision} (a file's oid and last commit), and GET
 * /{id}/resolve/{revision}/{file} (whole or a Range, with ETag), with the Hub's error headers
 * (X-Error-Code) and, on demand, a token check, redirects to a second "CDN" server, and a
 * download that breaks off half-way. Records every request.
 */
import { createHash } from 'node:crypto';
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
  method: string;
  url: string;
  /** The URL without its query. */
  path: string;
  authorization: string | undefined;
  range: string | undefined;
}

export interface FakeHub {
  url: string;
  requests: RecordedRequest[];
  /** Whole-file downloads (no Range) of one file of a repo, on the hub or the CDN. */
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

/** The git blob id the Hub gives a file that is not in LFS. */
const gitOid = (content: Buffer) => createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');

function record(requests: RecordedRequest[], server: RecordedRequest['server'], req: IncomingMessage): string {
  const url = req.url ?? '';
  const path = url.split('?')[0];
  requests.push({ server, method: req.method ?? '', url, path, authorization: req.headers.authorization, range: req.headers.range });
  return path;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startFakeHub(options: FakeHubOptions): Promise<FakeHub> {
  const requests: RecordedRequest[] = [];
  const repos = new Map(options.repos.map((r) => [r.id, r]));

  /** The whole file, or the one Range form clients send (bytes=a-b) as 206; the half-way cut applies to whole downloads. */
  const sendFile = (req: IncomingMessage, res: ServerResponse, content: Buffer, file: string) => {
    const headers = { 'content-type': 'application/octet-stream', etag: `"${gitOid(content)}"` };
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(Number(range[2]), content.length - 1);
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${content.length}`, 'content-length': end - start + 1 });
      return res.end(content.subarray(start, end + 1));
    }
    res.writeHead(200, { ...headers, 'content-length': content.length });
    if (file === options.breakFile) {
      res.write(content.subarray(0, content.length >> 1), () => req.socket.destroy());
      return;
    }
    res.end(content);
  };

  // The "CDN": another origin serving /{id}/{sha}/{file}, like cdn-lfs.huggingface.co.
  const cdn = createServer((req, res) => {
    const path = record(requests, 'cdn', req);
    const m = /^\/([^/]+\/[^/]+)\/([^/]+)\/(.+)$/.exec(path);
    const repo = m ? repos.get(decodeURIComponent(m[1])) : undefined;
    const file = m ? m[3].split('/').map(decodeURIComponent).join('/') : '';
    const content = repo?.files.get(file);
    if (!content) return sendJson(res, 404, { error: 'no such object' });
    sendFile(req, res, content, file);
  });
  const cdnUrl = options.redirect === 'cdn' ? await listen(cdn) : '';

  const hub = createServer(async (req, res) => {
    const url = record(requests, 'hub', req);
    const pathsInfo = /^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/([^/]+)$/.exec(url);
    if (req.method !== (pathsInfo ? 'POST' : 'GET')) return sendJson(res, 405, { error: 'method not allowed' });
    if (options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`) {
      return sendJson(res, 401, { error: 'Invalid credentials in Authorization header' }, { 'x-error-code': 'RepoNotFound' });
    }

    const moved = /^\/cdn-moved\/([^/]+\/[^/]+)\/([^/]+)\/(.+)$/.exec(url);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    const match = moved ?? api ?? pathsInfo ?? resolve;
    if (!match) return sendJson(res, 404, { error: 'Not Found' });
    const repo = repos.get(decodeURIComponent(match[1]));
    if (!repo) return sendJson(res, 404, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    const revision = decodeURIComponent(match[2]);
    if (revision !== 'main' && revision !== repo.sha) {
      return sendJson(res, 404, { error: `Invalid rev id: ${revision}` }, { 'x-error-code': 'RevisionNotFound' });
    }
    if (api) return sendJson(res, 200, { _id: 'fake', id: repo.id, sha: repo.sha, siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) });
    if (pathsInfo) {
      const { paths } = JSON.parse(await readBody(req)) as { paths: string[] };
      const found = paths
        .filter((p) => repo.files.has(p))
        .map((path) => {
          const content = repo.files.get(path)!;
          return {
            type: 'file',
            path,
            oid: gitOid(content),
            size: content.length,
            lastCommit: { id: repo.sha, title: 'fixture', date: '2026-01-01T00:00:00.000Z' },
          };
        });
      return sendJson(res, 200, found);
    }

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
    downloadsOf: (file) => requests.filter((r) => !r.path.startsWith('/api/') && r.range === undefined && r.path.endsWith(`/${file}`)),
    close: async () => {
      await closeServer(hub);
      if (cdnUrl) await closeServer(cdn);
    },
  };
}
