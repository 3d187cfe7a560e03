/**
 * Hub downloads against a fake Hub on 127.0.0.1 serving the tiny-bert fixture: the files chosen,
 * the huggingface_hub cache layout, offline re-use, tokens, redirects and the error messages.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readManifest } from '../../src/model-prep/manifest.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { downloadFromHub, isHubId, type HubOptions } from '../../src/models/hub.js';
import { chooseOnnxFiles, moduleConfigFiles } from '../../src/models/hub-files.js';
import { startCoalesce } from '../../src/server.js';
import { FAKE_SHA, TINY_BERT_DIR, filesOf, startFakeHub, tinyBertRepo, type FakeRepo } from '../helpers/fake-hub.js';

const ID = 'fake-org/tiny-bert';
const tmpDirs: string[] = [];

function freshCache(): string {
  const dir = mkdtempSync(join(tmpdir(), 'coalesce-hub-'));
  tmpDirs.push(dir);
  return dir;
}

after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function options(endpoint: string, cacheDir: string, extra: Partial<HubOptions> = {}): HubOptions & { lines: string[] } {
  const lines: string[] = [];
  return { endpoint, revision: 'main', cacheDir, token: null, onnxFile: null, log: (m) => lines.push(m), lines, ...extra };
}

/** A port nothing listens on. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

function repoWith(files: Record<string, string | Buffer>, id = 'fake-org/other'): FakeRepo {
  return { id, sha: FAKE_SHA, files: new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)])) };
}

const snapshotOf = (cache: string, id = ID) => join(cache, `models--${id.replace('/', '--')}`, 'snapshots', FAKE_SHA);

describe('downloadFromHub', () => {
  it('downloads the files Coalesce needs into the huggingface_hub cache layout, and readManifest accepts the folder', async () => {
    const hub = await startFakeHub({ repos: [tinyBertRepo()] });
    const cache = freshCache();
    try {
      const o = options(hub.url, cache);
      const dir = await downloadFromHub(ID, o);

      assert.equal(dir, snapshotOf(cache));
      assert.equal(readFileSync(join(cache, 'models--fake-org--tiny-bert', 'refs', 'main'), 'utf8'), FAKE_SHA);
      for (const f of [
        'tokenizer.json',
        'tokenizer_config.json',
        'config.json',
        'modules.json',
        'sentence_bert_config.json',
        'config_sentence_transformers.json',
        '1_Pooling/config.json',
        '2_Normalize/config.json',
        'model.onnx',
      ]) {
        assert.deepEqual(readFileSync(join(dir, f)), readFileSync(join(TINY_BERT_DIR, f)), f);
      }
      // Files the fixture repo has but Coalesce never reads stay on the Hub.
      assert.equal(existsSync(join(dir, 'reference.json')), false);
      assert.equal(existsSync(join(dir, 'README.md')), false);
      // huggingface_hub's layout: the snapshot links to content-addressed blobs; no temporary file is left.
      assert.ok(lstatSync(join(dir, 'model.onnx')).isSymbolicLink());
      assert.equal(
        realpathSync(join(dir, 'model.onnx')),
        realpathSync(join(cache, 'models--fake-org--tiny-bert', 'blobs', readlinkSync(join(dir, 'model.onnx')).split('/').pop()!)),
      );
      assert.deepEqual(
        readdirSync(join(cache, 'models--fake-org--tiny-bert', 'blobs')).filter((f) => f.endsWith('.incomplete')),
        [],
        'no temporary file left',
      );

      const manifest = readManifest(dir);
      assert.equal(manifest.onnxFile, 'model.onnx');
      assert.equal(manifest.pooling, 'mean');
      assert.equal(manifest.normalize, true);

      // Listed at the revision, downloaded at the commit the revision pointed to.
      assert.equal(hub.requests[0].path, `/api/models/fake-org/tiny-bert/revision/main`);
      assert.ok(hub.downloadsOf('model.onnx').every((r) => r.path === `/fake-org/tiny-bert/resolve/${FAKE_SHA}/model.onnx`));
      assert.equal(hub.downloadsOf('model.onnx').length, 1);
      assert.ok(
        o.lines.some((l) => l.includes('model.onnx') && l.includes('MB/s') && l.includes('4.0 MB')),
        o.lines.join('\n'),
      );
    } finally {
      await hub.close();
    }
  });

  it('re-uses the cache: no download when complete, and no network at all when the Hub is gone', async () => {
    const cache = freshCache();
    const hub = await startFakeHub({ repos: [tinyBertRepo()] });
    const first = await downloadFromHub(ID, options(hub.url, cache));
    hub.requests.length = 0;
    const second = await downloadFromHub(ID, options(hub.url, cache));
    assert.equal(second, first);
    assert.deepEqual(
      hub.requests.map((r) => r.path),
      ['/api/models/fake-org/tiny-bert/revision/main'],
      'only the listing',
    );
    await hub.close();

    const o = options(hub.url, cache);
    assert.equal(await downloadFromHub(ID, o), first);
    assert.ok(
      o.lines.some((l) => l.includes('cannot reach') && l.includes('using the cached')),
      o.lines.join('\n'),
    );

    const offline = options(hub.url, cache, { offline: true });
    assert.equal(await downloadFromHub(ID, offline), first);
    // A pinned commit is immutable: served from the cache without asking.
    assert.equal(await downloadFromHub(ID, options(hub.url, cache, { revision: FAKE_SHA })), first);
  });

  it('sends the token as a Bearer header on every request, and says HF_TOKEN when refused', async () => {
    const hub = await startFakeHub({ repos: [tinyBertRepo()], token: 'hf_secret' });
    try {
      const dir = await downloadFromHub(ID, options(hub.url, freshCache(), { token: 'hf_secret' }));
      assert.ok(existsSync(join(dir, 'model.onnx')));
      assert.ok(hub.requests.length > 5);
      assert.ok(hub.requests.every((r) => r.authorization === 'Bearer hf_secret'));

      await assert.rejects(downloadFromHub(ID, options(hub.url, freshCache())), (e: Error) => {
        assert.match(e.message, /HTTP 401/);
        assert.match(e.message, /set HF_TOKEN/);
        assert.ok(e.message.includes(`model ${ID} (revision main)`), e.message);
        return true;
      });
      await assert.rejects(downloadFromHub(ID, options(hub.url, freshCache(), { token: 'hf_wrong' })), (e: Error) => {
        assert.match(e.message, /token in HF_TOKEN .*was refused/);
        assert.ok(!e.message.includes('hf_wrong'), 'the token never appears in messages');
        return true;
      });
    } finally {
      await hub.close();
    }
  });

  it('says which model and revision was not found (404)', async () => {
    const hub = await startFakeHub({ repos: [tinyBertRepo()] });
    try {
      await assert.rejects(downloadFromHub('fake-org/missing', options(hub.url, freshCache())), (e: Error) => {
        assert.ok(e.message.startsWith(`model fake-org/missing (revision main) not found on ${hub.url}`), e.message);
        return true;
      });
      await assert.rejects(downloadFromHub(ID, options(hub.url, freshCache(), { revision: 'v9' })), (e: Error) => {
        assert.ok(e.message.startsWith(`model ${ID} (revision v9) not found on ${hub.url}`), e.message);
        return true;
      });
    } finally {
      await hub.close();
    }
  });

  it('follows redirects: same origin keeps the token, another origin (a CDN) does not get it', async () => {
    for (const redirect of ['relative', 'cdn'] as const) {
      const hub = await startFakeHub({ repos: [tinyBertRepo()], redirect });
      try {
        const dir = await downloadFromHub(ID, options(hub.url, freshCache(), { token: 'hf_secret' }));
        assert.deepEqual(readFileSync(join(dir, 'model.onnx')), readFileSync(join(TINY_BERT_DIR, 'model.onnx')), redirect);
        const followed = hub.requests.filter((r) => r.path.includes(`/${FAKE_SHA}/`) && !r.path.includes('/resolve/'));
        assert.ok(followed.length > 5, `${redirect}: redirects were followed`);
        const expected = redirect === 'relative' ? 'Bearer hf_secret' : undefined;
        assert.ok(
          followed.every((r) => r.authorization === expected),
          `${redirect}: ${JSON.stringify(followed[0])}`,
        );
        assert.equal(
          followed.every((r) => r.server === (redirect === 'cdn' ? 'cdn' : 'hub')),
          true,
        );
      } finally {
        await hub.close();
      }
    }
  });

  it('explains a repository without ONNX: its files, and that Coalesce needs ONNX (optimum)', async () => {
    const files = filesOf(TINY_BERT_DIR);
    files.delete('model.onnx');
    files.set('model.safetensors', Buffer.from('weights'));
    const hub = await startFakeHub({ repos: [{ id: 'fake-org/pytorch-only', sha: FAKE_SHA, files }] });
    const cache = freshCache();
    try {
      await assert.rejects(downloadFromHub('fake-org/pytorch-only', options(hub.url, cache)), (e: Error) => {
        assert.match(e.message, /has no ONNX file/);
        assert.match(e.message, /optimum/);
        assert.match(e.message, /model\.safetensors/);
        assert.match(e.message, /tokenizer\.json/);
        return true;
      });
      assert.equal(hub.requests.length, 1, 'nothing downloaded before the check');
    } finally {
      await hub.close();
    }
  });

  it('a download that breaks off never looks complete, and the next start finishes it', async () => {
    const cache = freshCache();
    const broken = await startFakeHub({ repos: [tinyBertRepo()], breakFile: 'model.onnx' });
    try {
      await assert.rejects(downloadFromHub(ID, options(broken.url, cache)), (e: Error) => {
        assert.match(e.message, /model\.onnx/);
        assert.ok(e.message.includes(broken.url), e.message);
        return true;
      });
    } finally {
      await broken.close();
    }
    const repoDir = join(cache, 'models--fake-org--tiny-bert');
    assert.equal(existsSync(join(snapshotOf(cache), 'model.onnx')), false);
    assert.equal(existsSync(join(repoDir, 'refs', 'main')), false);
    const blobs = readdirSync(join(repoDir, 'blobs'));
    assert.equal(blobs.filter((f) => f.endsWith('.incomplete')).length, 1, `only the graph's download is unfinished: ${blobs}`);
    await assert.rejects(downloadFromHub(ID, options(broken.url, cache)), /no complete copy of fake-org\/tiny-bert \(revision main\) is cached/);

    const hub = await startFakeHub({ repos: [tinyBertRepo()] });
    try {
      await downloadFromHub(ID, options(hub.url, cache));
      const downloads = hub.requests.filter((r) => r.path.includes('/resolve/') && r.range === undefined).map((r) => r.path);
      assert.deepEqual(downloads, [`/fake-org/tiny-bert/resolve/${FAKE_SHA}/model.onnx`], 'only the missing graph');
      assert.ok(readManifest(snapshotOf(cache)));
      assert.deepEqual(
        readdirSync(join(repoDir, 'blobs')).filter((f) => f.endsWith('.incomplete')),
        [],
        'the unfinished download was replaced',
      );
    } finally {
      await hub.close();
    }
  });

  it('names the endpoint and the cache when the Hub cannot be reached and nothing is cached', async () => {
    const url = await closedPortUrl();
    const cache = freshCache();
    await assert.rejects(downloadFromHub(ID, options(url, cache)), (e: Error) => {
      assert.ok(e.message.includes(`cannot reach the Hugging Face Hub at ${url}`), e.message);
      assert.match(e.message, /ECONNREFUSED/);
      assert.ok(e.message.includes(cache), e.message);
      return true;
    });
    await assert.rejects(downloadFromHub(ID, options(url, cache, { offline: true })), /HF_HUB_OFFLINE/);
  });

  it('downloads the --onnx-file variant with its external data, and transformers.js image/text towers', async () => {
    const repo = repoWith({
      'tokenizer.json': readFileSync(join(TINY_BERT_DIR, 'tokenizer.json')),
      'config.json': '{}',
      'onnx/model.onnx': 'g',
      'onnx/model_fp16.onnx': 'g16',
      'onnx/model_fp16.onnx_data': 'd16',
      'onnx/vision_model.onnx': 'v',
      'onnx/vision_model_fp16.onnx': 'v16',
      'onnx/text_model_fp16.onnx': 't16',
      'onnx/model_quantized.onnx': 'q',
    });
    const hub = await startFakeHub({ repos: [repo] });
    try {
      const dir = await downloadFromHub(repo.id, options(hub.url, freshCache(), { onnxFile: 'onnx/model_fp16.onnx' }));
      assert.deepEqual(readdirSync(join(dir, 'onnx')).sort(), ['model_fp16.onnx', 'model_fp16.onnx_data', 'text_model_fp16.onnx', 'vision_model_fp16.onnx']);
      assert.equal(readFileSync(join(dir, 'onnx/model_fp16.onnx_data'), 'utf8'), 'd16');
      await assert.rejects(
        downloadFromHub(repo.id, options(hub.url, freshCache(), { onnxFile: 'onnx/model_int4.onnx' })),
        /--onnx-file onnx\/model_int4\.onnx is not a file of .*onnx\/model\.onnx/,
      );
    } finally {
      await hub.close();
    }
  });
});

describe('chooseOnnxFiles', () => {
  const repo = { id: 'o/n', revision: 'main', endpoint: 'http://hub' };
  it('prefers model.onnx, then onnx/model.onnx, fp16, quantized; the graph comes last', () => {
    assert.deepEqual(chooseOnnxFiles(['model.onnx', 'onnx/model.onnx'], null, repo), { graph: 'model.onnx', files: ['model.onnx'] });
    assert.deepEqual(chooseOnnxFiles(['onnx/model_quantized.onnx', 'onnx/model_fp16.onnx'], null, repo).graph, 'onnx/model_fp16.onnx');
    assert.deepEqual(chooseOnnxFiles(['onnx/model.onnx', 'onnx/model.onnx.data', 'onnx/model.onnx_data_1', 'onnx/model.onnx_other'], null, repo).files, [
      'onnx/model.onnx.data',
      'onnx/model.onnx_data_1',
      'onnx/model.onnx',
    ]);
  });
  it('takes towers alone when there is no single graph', () => {
    assert.deepEqual(chooseOnnxFiles(['onnx/text_model_quantized.onnx', 'onnx/vision_model_quantized.onnx'], null, repo), {
      graph: null,
      files: ['onnx/vision_model_quantized.onnx', 'onnx/text_model_quantized.onnx'],
    });
  });
  it('asks for --onnx-file when only unusual graph names exist', () => {
    assert.throws(() => chooseOnnxFiles(['onnx/model_O4.onnx'], null, repo), /none of model\.onnx.*--onnx-file.*onnx\/model_O4\.onnx/);
  });
  it('reads module configs from modules.json, only those the repo has', () => {
    const modules = [{ path: '' }, { path: '1_Pooling' }, { path: '2_Dense/' }, { path: '3_Normalize' }];
    assert.deepEqual(moduleConfigFiles(modules, ['1_Pooling/config.json', '2_Dense/config.json']), ['1_Pooling/config.json', '2_Dense/config.json']);
    assert.deepEqual(moduleConfigFiles({ not: 'a list' }, ['1_Pooling/config.json']), []);
  });
});

describe('isHubId', () => {
  it('accepts org/name ids and refuses paths', () => {
    for (const ok of ['BAAI/bge-small-en-v1.5', 'sentence-transformers/all-MiniLM-L6-v2', 'Xenova/clip_vit.b32', ID]) assert.equal(isHubId(ok), true, ok);
    for (const bad of ['bert-base-uncased', './model', '../x/y', 'a/b/c', '/abs/path', 'org/na--me', 'org/.hidden', 'org/name-', 'org/']) {
      assert.equal(isHubId(bad), false, bad);
    }
  });
});

describe('startCoalesce with a Hub id', () => {
  const start = (endpoint: string, cache: string, extra: string[] = []) =>
    startCoalesce(
      loadConfig(
        ['--model', ID, '--hub-endpoint', endpoint, '--huggingface-hub-cache', cache, '--port', '0', '--grpc-port', '0', '--hostname', '127.0.0.1', ...extra],
        {},
      ),
      silentLogger,
    );

  async function embedTwice(url: string): Promise<number[][]> {
    const res = await fetch(`${url}/embed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: ['hello hub', 'second'] }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as number[][];
    assert.equal(body.length, 2);
    assert.equal(body[0].length, 32);
    return body;
  }

  it('downloads from the fake Hub and serves /embed; starts again offline from the cache', async () => {
    const hub = await startFakeHub({ repos: [tinyBertRepo()] });
    const cache = freshCache();
    let online: number[][];
    try {
      const app = await start(hub.url, cache);
      try {
        online = await embedTwice(app.httpUrl);
        const info = (await (await fetch(`${app.httpUrl}/info`)).json()) as { model_id: string; model_dir: string };
        assert.equal(info.model_id, ID);
        assert.equal(info.model_dir, snapshotOf(cache));
      } finally {
        await app.close();
      }
    } finally {
      await hub.close();
    }
    for (const extra of [[], ['--hub-offline']]) {
      const app = await start(hub.url, cache, extra);
      try {
        assert.deepEqual(await embedTwice(app.httpUrl), online, `offline start ${extra.join(' ')}`);
      } finally {
        await app.close();
      }
    }
  });
});

describe('--dtype picks which graph to download', () => {
  const repo = { id: 'o/n', revision: 'main', endpoint: 'http://hub' };
  const layout = ['model.onnx', 'onnx/model.onnx', 'onnx/model_fp16.onnx', 'onnx/model_quantized.onnx', 'onnx/model_int8.onnx'];
  it('int8: the first pre-quantized graph; float16: the fp16 one; float32 and unset: the default', () => {
    assert.equal(chooseOnnxFiles(layout, null, repo, 'int8').graph, 'onnx/model_int8.onnx');
    assert.equal(chooseOnnxFiles(['model.onnx', 'model_quantized.onnx'], null, repo, 'int8').graph, 'model_quantized.onnx');
    assert.equal(chooseOnnxFiles(layout, null, repo, 'float16').graph, 'onnx/model_fp16.onnx');
    assert.equal(chooseOnnxFiles(layout, null, repo, 'float32').graph, 'model.onnx');
    assert.equal(chooseOnnxFiles(layout, null, repo).graph, 'model.onnx');
    assert.deepEqual(chooseOnnxFiles(['onnx/text_model.onnx', 'onnx/text_model_quantized.onnx', 'onnx/vision_model_quantized.onnx'], null, repo, 'int8'), {
      graph: null,
      files: ['onnx/vision_model_quantized.onnx', 'onnx/text_model_quantized.onnx'],
    });
    assert.throws(
      () => chooseOnnxFiles(['model.onnx', 'onnx/model_fp16.onnx'], null, repo, 'int8'),
      /--dtype int8: .* has none of onnx\/model_int8\.onnx.*Its ONNX files: model\.onnx, onnx\/model_fp16\.onnx/,
    );
  });

  it('downloads only the int8 graph, serves it, and starts again offline from the cache', async () => {
    const int8 = readFileSync(join(TINY_BERT_DIR, 'model.onnx')); // its bytes stand for an int8 export: only the choice is under test
    const base = tinyBertRepo();
    const withInt8: FakeRepo = { ...base, files: new Map([...base.files, ['onnx/model_int8.onnx', int8]]) };
    const hub = await startFakeHub({ repos: [withInt8] });
    const cache = freshCache();
    try {
      const dir = await downloadFromHub(ID, options(hub.url, cache, { dtype: 'int8' }));
      assert.ok(existsSync(join(dir, 'onnx', 'model_int8.onnx')));
      assert.equal(hub.downloadsOf('model.onnx').length, 0, 'the float32 graph stays on the Hub');
      const app = await startCoalesce(
        loadConfig(
          [
            '--model',
            ID,
            '--hub-endpoint',
            hub.url,
            '--huggingface-hub-cache',
            cache,
            '--dtype',
            'int8',
            '--port',
            '0',
            '--grpc-port',
            '-1',
            '--hostname',
            '127.0.0.1',
          ],
          {},
        ),
        silentLogger,
      );
      try {
        const info = (await (await fetch(`${app.httpUrl}/info`)).json()) as { onnx_file: string; model_dtype: string };
        assert.deepEqual([info.onnx_file, info.model_dtype], ['onnx/model_int8.onnx', 'int8']);
      } finally {
        await app.close();
      }
    } finally {
      await hub.close();
    }
    assert.equal(await downloadFromHub(ID, options(hub.url, cache, { dtype: 'int8', offline: true })), snapshotOf(cache));
    await assert.rejects(downloadFromHub(ID, options(hub.url, cache, { dtype: 'float16', offline: true })), /HF_HUB_OFFLINE.*no complete copy/);
  });
});
