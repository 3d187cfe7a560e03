/**
 * Models from the Hugging Face Hub with @huggingface/hub, like huggingface_hub's snapshot_download
 * but only the files Coalesce reads: list the revision's files, download tokenizer + configs + one
 * ONNX graph at that commit into the shared cache, and serve a complete cached snapshot when the
 * Hub cannot be reached (offline start after a first download).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { downloadFileToCacheDir, modelInfo } from '@huggingface/hub';
import { cachedCommit, defaultHubCache, isCommitSha, isSafeCommitName, repoFolder, snapshotFolder, snapshotLooksComplete, writeRef } from './hub-cache.js';
import { HubError, HubUnreachableError, hubError, type HubErrorContext } from './hub-errors.js';
import { hubFetch } from './hub-fetch.js';
import type { Config } from '../config.js';
import { dtypeGraphs, dtypeVariants } from '../settings.js';
import { CONFIG_FILES, chooseOnnxFiles, isSafeRepoPath, listForMessage, moduleConfigFiles } from './hub-files.js';

export { HubError } from './hub-errors.js';

/** `org/name` as the Hub spells repository ids: word characters, '-' and '.', no '--' or '..', no leading or trailing '-' or '.'. */
export function isHubId(s: string): boolean {
  const parts = s.split('/');
  return parts.length === 2 && parts.every((p) => /^[\w.-]{1,96}$/.test(p) && !/^[.-]|[.-]$/.test(p) && !p.includes('--') && !p.includes('..'));
}

export interface HubOptions {
  endpoint: string;
  revision: string;
  cacheDir: string | null;
  token: string | null;
  onnxFile: string | null;
  /** --dtype: which graph variant to fetch (float16, int8) when onnxFile is null. */
  dtype?: Config['dtype'];
  log: (m: string) => void;
  /** Never call the endpoint: serve the cached snapshot or fail (HF_HUB_OFFLINE). */
  offline?: boolean;
}

/** Runs every task; throws the first failure only after all settled, so no download is left writing. */
async function allOrFirstError(tasks: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Files from this size get a line with their size and speed. */
const REPORTED_FILE_BYTES = 1 << 20;
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);

function readJsonOrNull(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null; // readManifest reports a broken modules.json with its path
  }
}

/** Returns the local snapshot folder of `id` at `options.revision`, downloading what is missing. */
export async function downloadFromHub(id: string, options: HubOptions): Promise<string> {
  const { revision, token, onnxFile, log } = options;
  if (!isHubId(id)) throw new HubError(`'${id}' is not a Hugging Face Hub model id (org/name)`);
  if (!isSafeRepoPath(revision)) throw new HubError(`--revision '${revision}' is not a valid revision name`);
  if (onnxFile !== null && !isSafeRepoPath(onnxFile.replace(/^\.\//, ''))) {
    throw new HubError(`--onnx-file '${onnxFile}' must be a path inside the repository`);
  }
  const endpoint = options.endpoint.replace(/\/+$/, '');
  const cacheDir = resolve(options.cacheDir ?? defaultHubCache());
  const repoDir = repoFolder(cacheDir, id);
  const notCached = `no complete copy of ${id} (revision ${revision}) is cached in ${cacheDir}`;

  // With --dtype, a snapshot is complete once it has one of that dtype's graphs (or text towers).
  const graphs = onnxFile === null ? dtypeGraphs(options.dtype ?? null) : null;
  const dtypeFiles = graphs && [...graphs, ...(dtypeVariants(options.dtype ?? null) ?? []).map((v) => `onnx/text_model_${v}.onnx`)];
  const cachedSnapshot = (): { sha: string; dir: string } | null => {
    const sha = cachedCommit(repoDir, revision);
    if (sha === null) return null;
    const dir = snapshotFolder(repoDir, sha);
    return snapshotLooksComplete(dir, onnxFile, dtypeFiles) ? { sha, dir } : null;
  };

  if (options.offline) {
    const cached = cachedSnapshot();
    if (cached === null) throw new HubError(`Hub access is off (HF_HUB_OFFLINE) and ${notCached}`);
    log(`using cached ${id} (revision ${revision}, commit ${cached.sha}) from ${cached.dir}: Hub access is off`);
    return cached.dir;
  }
  // A commit never changes: once complete, it needs no network.
  if (isCommitSha(revision)) {
    const cached = cachedSnapshot();
    if (cached !== null) {
      log(`using cached ${id} (commit ${revision}) from ${cached.dir}`);
      return cached.dir;
    }
  }

  const ctx: HubErrorContext = { id, revision, endpoint, tokenSet: token !== null };
  const fetch = hubFetch(endpoint, token);
  let info: { sha?: unknown; filePaths?: unknown };
  try {
    info = await modelInfo({ name: id, revision, hubUrl: endpoint, additionalFields: ['sha', 'filePaths'], fetch });
  } catch (caught) {
    const e = hubError(caught, ctx);
    // Like huggingface_hub: when the Hub cannot tell what the revision is now, the last complete download serves.
    const cached = cachedSnapshot();
    if (cached !== null) {
      log(`${e.message}; using the cached ${id} (revision ${revision}, commit ${cached.sha}) from ${cached.dir}`);
      return cached.dir;
    }
    if (e instanceof HubUnreachableError) {
      throw new HubUnreachableError(`${e.message}, and ${notCached}. Check the network, or HF_ENDPOINT when using a mirror.`);
    }
    throw e;
  }

  const { sha, filePaths: siblings } = info;
  if (typeof sha !== 'string' || !Array.isArray(siblings) || !siblings.every((f): f is string => typeof f === 'string')) {
    throw new HubError(`${endpoint} answered for ${id} without a commit sha and file list: is ${endpoint} a Hugging Face Hub (HF_ENDPOINT)?`);
  }
  if (!isSafeCommitName(sha)) throw new HubError(`${endpoint} gave '${sha}' as the commit of ${id}: not a commit id`);
  if (!siblings.includes('tokenizer.json')) {
    throw new HubError(
      `model ${id} (revision ${revision}) on ${endpoint} has no tokenizer.json, the tokenizer file Coalesce reads. ` + `Its files: ${listForMessage(siblings)}`,
    );
  }
  const onnx = chooseOnnxFiles(siblings, onnxFile, { id, revision, endpoint }, options.dtype ?? null);

  const snapshot = snapshotFolder(repoDir, sha);
  const started = performance.now();
  let files = 0;
  let bytes = 0;
  const fetchFile = async (file: string): Promise<void> => {
    if (!isSafeRepoPath(file)) throw new HubError(`model ${id} names the file '${file}', which points outside its folder`);
    const dest = join(snapshot, file);
    if (existsSync(dest)) return;
    if (files++ === 0) log(`downloading ${id} (revision ${revision}, commit ${sha}) from ${endpoint} into ${snapshot}`);
    const fileStarted = performance.now();
    try {
      // At the commit, not the revision: every file comes from the same commit even if the branch moves meanwhile.
      await downloadFileToCacheDir({ repo: id, path: file, revision: sha, hubUrl: endpoint, cacheDir, fetch });
    } catch (e) {
      throw hubError(e, { ...ctx, file });
    }
    const size = statSync(dest).size;
    bytes += size;
    const s = (performance.now() - fileStarted) / 1000;
    if (size >= REPORTED_FILE_BYTES) log(`downloaded ${file}: ${mb(size)} MB in ${s.toFixed(1)} s (${(size / 1e6 / Math.max(s, 1e-3)).toFixed(1)} MB/s)`);
  };

  const present = new Set(siblings);
  await allOrFirstError(CONFIG_FILES.filter((f) => present.has(f)).map(fetchFile));
  const modulesPath = join(snapshot, 'modules.json');
  if (existsSync(modulesPath)) await allOrFirstError(moduleConfigFiles(readJsonOrNull(modulesPath), siblings).map(fetchFile));
  // One at a time and graph last: big files, and the graph's presence is what marks the snapshot complete.
  for (const file of onnx.files) await fetchFile(file);
  await writeRef(repoDir, revision, sha);

  if (files > 0) {
    const s = (performance.now() - started) / 1000;
    log(`downloaded ${id}: ${files} files, ${mb(bytes)} MB in ${s.toFixed(1)} s`);
  } else {
    log(`using cached ${id} (revision ${revision}, commit ${sha}) from ${snapshot}`);
  }
  return snapshot;
}
