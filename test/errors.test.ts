import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { CoalesceError, ERROR_TYPE } from '../src/errors.js';
import { HTTP_STATUS, httpStatus } from '../src/transport/http/errors.js';
import { GRPC_STATUS } from '../src/transport/grpc/errors.js';

test('TEI 1.9 names both limit and shape errors Validation and answers both 422; the payload limit stays 413', () => {
  assert.deepEqual([HTTP_STATUS.over_limit, ERROR_TYPE.over_limit, GRPC_STATUS.over_limit], [422, 'Validation', status.INVALID_ARGUMENT]);
  assert.deepEqual([HTTP_STATUS.validation, ERROR_TYPE.validation, GRPC_STATUS.validation], [422, 'Validation', status.INVALID_ARGUMENT]);
  assert.deepEqual([HTTP_STATUS.tokenizer, GRPC_STATUS.tokenizer], [422, status.FAILED_PRECONDITION]);
  assert.equal(HTTP_STATUS.payload_too_large, 413);
  assert.deepEqual([HTTP_STATUS.overloaded, HTTP_STATUS.backend, HTTP_STATUS.unhealthy, HTTP_STATUS.empty], [429, 424, 503, 400]);
});

test('OpenAI routes answer invalid requests 400, as OpenAI does; other kinds keep their status', () => {
  for (const kind of ['validation', 'over_limit', 'tokenizer', 'empty'] as const) assert.equal(httpStatus(new CoalesceError(kind, 'x'), 'openai'), 400, kind);
  assert.equal(httpStatus(new CoalesceError('over_limit', 'x'), 'tei'), 422);
  for (const kind of ['payload_too_large', 'overloaded', 'unhealthy', 'unsupported_media_type'] as const) {
    assert.equal(httpStatus(new CoalesceError(kind, 'x'), 'openai'), HTTP_STATUS[kind], kind);
  }
});
