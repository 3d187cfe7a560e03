/**
 * The huggingface_hub cache layout, shared with Python tools. @huggingface/hub's
 * downloadFileToCacheDir writes the files; this module reads the layout to serve a cached copy:
 *
 *   {cache}/models--{org}--{name}/refs/{revision}          the commit sha the revision pointed to
 *   {cache}/models--{org}--{name}/snapshots/{sha}/{file}   links to the blobs of that commit
 *   {cache}/models--{org}--{name}/blobs/{etag}             file contents ({etag}.incomplete while downloading)
 *
 * A file appears in the snapshot only once its blob is complete, and a ref is written only once
 * its snapshot is complete.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ONNX_CANDIDATES } from '../model-prep/manifest.js';

export function defaultHubCache(): string {
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

export function repoFolder(cacheDir: string, id: string): string {
  return join(cacheDir, `models--${id.split('/').join('--')}`);
}

export function snapshotFolder(repoDir: string, sha: string): string {
  return join(repoDir, 'snapshots', sha);
}

export const isCommitSha = (s: string): boolean => /^[0-9a-f]{40}$/.test(s);

/** The commit a revision pointed to at the last complete download; a commit sha names itself. */
export function cachedCommit(repoDir: string, revision: string): string | null {
  if (isCommitSha(revision)) return revision;
  const ref = join(repoDir, 'refs', revision);
  if (!existsSync(ref)) return null;
  const sha = readFileSync(ref, 'utf8').trim();
  return isSafeCommitName(sha) ? sha : null;
}

/** A commit name usable as one path segment of the cache (no separators, not . or ..). */
export function isSafeCommitName(s: string): boolean {
  return /^[\w.-]+$/.test(s) && s !== '.' && s !== '..';
}

export async function writeRef(repoDir: string, revision: string, sha: string): Promise<void> {
  if (revision === sha) return;
  const ref = join(repoDir, 'refs', revision);
  await mkdir(dirname(ref), { recursive: true });
  const tmp = `${ref}.${process.pid}.tmp`;
  await writeFile(tmp, sha);
  await rename(tmp, ref);
}

/**
 * Whether a snapshot can be served without asking the Hub. Downloads fetch the graph last and
 * rename files into place only when complete, so tokenizer + graph present means the rest is too.
 * `dtypeFiles`: --dtype's graphs (and text towers), one of which must be there.
 */
export function snapshotLooksComplete(dir: string, onnxFile: string | null, dtypeFiles: readonly string[] | null = null): boolean {
  if (!existsSync(join(dir, 'tokenizer.json'))) return false;
  if (onnxFile !== null) return existsSync(join(dir, onnxFile));
  if (dtypeFiles !== null) return dtypeFiles.some((f) => existsSync(join(dir, f)));
  if (ONNX_CANDIDATES.some((c) => existsSync(join(dir, c)))) return true;
  const onnxDir = join(dir, 'onnx');
  return existsSync(onnxDir) && statSync(onnxDir).isDirectory() && readdirSync(onnxDir).some((f) => /^(?:vision|text)_model.*\.onnx$/.test(f));
}
