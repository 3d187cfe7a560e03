/**
 * The playground page: served at GET /playground and to browsers at GET /, then driven in a real
 * headless Chromium against a real server. The heatmap's numbers must be the cosine similarities
 * of the vectors POST /embed (and /embed_image) return; its tokens those of POST /tokenize.
 * Skips only when no Chromium binary is installed (apt-get install -y chromium).
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { loadConfig } from '../../../src/config.js';
import { silentLogger } from '../../../src/log.js';
import { startCoalesce, type Coalesce } from '../../../src/server.js';
import { DEFAULT_MODEL_CONVERSION_TIMEOUT_MS, TEST_DEFAULT_MODEL_DIR } from '../../helpers/default-model.js';
import { charEncoder, FakeBackend } from '../../helpers/fake-backend.js';
import { imageBytes, TINY_CLIP } from '../../helpers/image-fixtures.js';
import { cosine, post, startServer } from '../../helpers/server.js';
import { serveDeps } from '../../helpers/http-deps.js';
import { Batcher } from '../../../src/core/batcher.js';
import { Embedder } from '../../../src/core/embedder.js';

// The functions given to page.$eval and waitForFunction run in the browser; this project compiles without the DOM lib.
declare const document: any;

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const NO_CHROMIUM = CHROMIUM ? false : 'no Chromium binary (/usr/bin/chromium): install it with `apt-get install -y chromium`';

test('GET /playground and GET / from a browser answer the page; other GET / and POST / do not', async (t) => {
  const backend = new FakeBackend();
  const embedder = new Embedder(
    backend.info,
    charEncoder,
    new Batcher(backend, { maxBatchTokens: 100, maxBatchRequests: 4 }),
    { maxClientBatchSize: 4, autoTruncate: false },
    4,
  );
  const app = await serveDeps({ embedder, ready: () => true, modelName: 'fake', payloadLimit: 1000, info: () => ({}), metrics: () => '' });
  t.after(() => app.close());
  const page = await app.request('/playground');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  const html = await page.text();
  assert.match(html, /<title>Coalesce playground<\/title>/);
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/, 'one self-contained page: nothing loaded from elsewhere');
  const browser = await app.request('/', { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
  assert.equal(browser.status, 200);
  assert.equal(await browser.text(), html);
  assert.equal((await app.request('/', { headers: { accept: 'application/json' } })).status, 404);
  assert.equal((await app.request('/')).status, 404);
  assert.notEqual(
    (await app.request('/', { method: 'POST', headers: { accept: 'text/html', 'content-type': 'application/json' }, body: '{}' })).headers
      .get('content-type')
      ?.startsWith('text/html'),
    true,
  );
});

/** Every heatmap cell as [row, col, value shown, value kept], read from the page. */
async function heatmapCells(page: Page): Promise<{ row: number; col: number; shown: number; value: number }[]> {
  return page.$$eval('#heatmap td', (cells) =>
    cells.map((td) => {
      const el = td as any;
      return { row: Number(el.dataset.row), col: Number(el.dataset.col), shown: Number(el.textContent), value: Number(el.dataset.value) };
    }),
  );
}

async function compute(page: Page, times: number): Promise<void> {
  await page.click('#compute');
  await page.waitForFunction((n) => document.body.dataset.computed === String(n) || document.querySelector('#status.error'), { timeout: 30_000 }, times);
  const error = await page.$eval('#status', (s) => (s.className === 'error' ? s.textContent : null));
  assert.equal(error, null, `the page reported: ${error}`);
}

function checkMatrix(cells: { row: number; col: number; shown: number; value: number }[], vectors: number[][]): void {
  assert.equal(cells.length, vectors.length * vectors.length);
  for (const c of cells) {
    const want = cosine(vectors[c.row], vectors[c.col]);
    assert.ok(Math.abs(c.value - want) < 1e-3, `cell ${c.row},${c.col}: ${c.value} vs ${want}`);
    assert.ok(Math.abs(c.shown - want) < 1e-3, `cell ${c.row},${c.col} shows ${c.shown}, ${want} expected`);
  }
}

describe('in a real browser', { skip: NO_CHROMIUM }, () => {
  let browser: Browser;
  const shots = CHROMIUM ? mkdtempSync(join(tmpdir(), 'coalesce-playground-')) : '';
  before(async () => {
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });
  after(() => browser?.close());

  async function open(url: string, t: TestContext): Promise<Page> {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    t.after(() => assert.deepEqual(errors, [], 'no script errors on the page'));
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.ready === 'true', { timeout: 10_000 });
    return page;
  }

  async function screenshot(page: Page, name: string, t: TestContext): Promise<void> {
    const path = join(shots, name);
    await page.screenshot({ path: path as `${string}.png`, fullPage: true });
    t.diagnostic(`screenshot: ${path}`);
    console.log(`playground screenshot: ${path}`);
  }

  describe('with the default model', () => {
    let server: Coalesce;
    before(
      async () => {
        server = await startCoalesce(
          loadConfig(['--port', '0', '--grpc-port', '-1', '--hostname', '127.0.0.1', '--default-model-dir', TEST_DEFAULT_MODEL_DIR], {}),
          silentLogger,
        );
      },
      { timeout: DEFAULT_MODEL_CONVERSION_TIMEOUT_MS },
    );
    after(() => server?.close());

    test('typed texts give the similarity matrix of POST /embed and the tokens of POST /tokenize', async (t) => {
      const page = await open(server.httpUrl + '/playground', t);
      assert.equal(await page.$eval('#image-panel', (p) => p.classList.contains('hidden')), true, 'a text model shows no image panel');
      const texts = [
        'The doctor treated the patient at the hospital.',
        'A nurse cared for the sick man in the clinic.',
        'The band played guitar and drums all night.',
        'Interest rates were raised by the central bank.',
      ];
      // Three example rows to start with: fill them, add one.
      await page.$$eval('.text-input', (areas) => areas.forEach((a) => ((a as any).value = '')));
      await page.click('#add-text');
      const areas = await page.$$('.text-input');
      assert.equal(areas.length, 4);
      for (const [i, text] of texts.entries()) await areas[i].type(text);
      await compute(page, 1);

      const embedded = await post(server.httpUrl, '/embed', { inputs: texts, truncate: true });
      assert.equal(embedded.status, 200);
      const cells = await heatmapCells(page);
      checkMatrix(cells, embedded.json);
      assert.ok(
        cells.some((c) => c.row !== c.col && c.value < 0.9),
        'different texts are not all alike: the check can fail',
      );

      const tokenized = await post(server.httpUrl, '/tokenize', { inputs: texts, truncate: true });
      const shown = await page.$$eval('#tokens .tokens', (boxes) =>
        boxes.map((b) => [...b.querySelectorAll('.tok')].map((tok) => tok.firstChild!.textContent)),
      );
      assert.deepEqual(
        shown,
        tokenized.json.map((list: { text: string }[]) => list.map((tok) => tok.text)),
      );
      await screenshot(page, 'playground-default-model.png', t);

      // Edit one text and compute again: the matrix follows.
      await page.$eval('.text-input', (a) => ((a as any).value = 'Stock markets fell sharply today.'));
      await compute(page, 2);
      const again = await post(server.httpUrl, '/embed', { inputs: ['Stock markets fell sharply today.', ...texts.slice(1)], truncate: true });
      checkMatrix(await heatmapCells(page), again.json);
    });

    test("GET / with a browser's Accept header is the playground", async (t) => {
      const page = await open(server.httpUrl + '/', t);
      assert.equal(await page.title(), 'Coalesce playground');
    });
  });

  describe('with an image-text model (tiny CLIP)', () => {
    let server: Coalesce;
    before(async () => {
      server = await startServer(['--image-workers', '0'], TINY_CLIP);
    });
    after(() => server?.close());

    test('dropped images join the matrix (POST /embed_image) and get zero-shot labels (POST /classify_image)', async (t) => {
      const page = await open(server.httpUrl + '/playground', t);
      assert.equal(await page.$eval('#image-panel', (p) => p.classList.contains('hidden')), false);
      const files = ['wide_320x120.jpg', 'rgb_224x224.png'];
      const input = (await page.$('#file'))!;
      await input.uploadFile(...files.map((f) => join('test/fixtures/images', f)));
      await page.waitForFunction((n) => document.querySelectorAll('#thumbs .thumb').length === n, { timeout: 10_000 }, files.length);
      const labels = ['a photo of a cat', 'a diagram'];
      await page.$eval('#labels', (l, v) => ((l as any).value = v), labels.join(', '));
      await compute(page, 1);

      const texts = await page.$$eval('.text-input', (areas) => areas.map((a) => (a as any).value.trim()).filter(Boolean));
      const images = files.map((f) => `data:image/${f.endsWith('.png') ? 'png' : 'jpeg'};base64,${imageBytes(f).toString('base64')}`);
      const textVectors = await post(server.httpUrl, '/embed', { inputs: texts, truncate: true });
      const imageVectors = await post(server.httpUrl, '/embed_image', { inputs: images });
      assert.equal(imageVectors.status, 200, JSON.stringify(imageVectors.json));
      checkMatrix(await heatmapCells(page), [...textVectors.json, ...imageVectors.json]);

      const classified = await post(server.httpUrl, '/classify_image', { inputs: images, labels });
      const shown = await page.$$eval('#zero-shot .labels-result', (boxes) =>
        boxes.map((b) => [...b.querySelectorAll('.score')].map((s) => ({ label: s.children[0].textContent, score: Number(s.children[2].textContent) }))),
      );
      assert.equal(shown.length, files.length);
      shown.forEach((scores, i) =>
        scores.forEach((s, k) => {
          assert.equal(s.label, classified.json[i][k].label);
          assert.ok(Math.abs(s.score - classified.json[i][k].score) < 1e-3, `${files[i]} ${s.label}: ${s.score} vs ${classified.json[i][k].score}`);
        }),
      );
      await screenshot(page, 'playground-image-model.png', t);
    });
  });
});
