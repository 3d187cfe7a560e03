/**
 * A tokenizer failure is one error whichever thread tokenizes: on the main thread
 * (InlineTextEncoder) and in worker threads (--tokenization-workers, TokenizerPool) it is the
 * 'tokenizer' kind with the tokenizer's message, which TEI answers 422 over HTTP and
 * FAILED_PRECONDITION over gRPC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import type { TextEncoder } from '../../src/core/types.js';
import { isCoalesceError, type CoalesceError } from '../../src/errors.js';
import { HfTokenizer, InlineTextEncoder } from '../../src/preprocess/tokenizer.js';
import { TokenizerPool } from '../../src/preprocess/tokenizer-pool.js';
import { toServiceError } from '../../src/transport/grpc/errors.js';
import { HTTP_STATUS } from '../../src/transport/http/errors.js';

const files = { tokenizerPath: 'test/fixtures/tiny-bert/tokenizer.json', configPath: 'test/fixtures/tiny-bert/tokenizer_config.json', maxLength: 64 };

/** The transports validate token ids; a caller that does not (or a tokenizer that breaks) reaches the library, which throws. */
async function failure(encoder: TextEncoder): Promise<CoalesceError> {
  try {
    await encoder.decode([[1.5]], false);
  } catch (e) {
    assert.ok(isCoalesceError(e), `not a CoalesceError: ${e}`);
    return e;
  }
  throw new Error('decoding a non-integer id succeeded');
}

test('a tokenizer failure is the same tokenizer error on the main thread and in tokenizer workers: 422 over HTTP, FAILED_PRECONDITION over gRPC', async () => {
  const inline = new InlineTextEncoder(HfTokenizer.fromFiles(files.tokenizerPath, files.configPath, files.maxLength));
  const pool = await TokenizerPool.start(files, 1);
  try {
    const [main, workers] = [await failure(inline), await failure(pool)];
    assert.deepEqual({ kind: main.kind, message: main.message }, { kind: workers.kind, message: workers.message });
    assert.equal(main.kind, 'tokenizer');
    assert.match(main.message, /integers/, "the tokenizer's own message reaches the client");
    for (const e of [main, workers]) {
      assert.equal(HTTP_STATUS[e.kind], 422);
      assert.equal(toServiceError(e).code, status.FAILED_PRECONDITION);
    }
    // Both still work afterwards.
    assert.deepEqual(await inline.decode([[101, 102]], true), await pool.decode([[101, 102]], true));
  } finally {
    await pool.close();
  }
});
