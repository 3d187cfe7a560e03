/** The error vocabulary's boundary: our bugs are `internal`, and messages never quote unbounded input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { clip, CoalesceError, ERROR_TYPE, onInternalError, quote, QUOTE_LIMIT, toCoalesceError } from '../src/errors.js';
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

test('a throwable that is not a CoalesceError becomes internal and is reported with its stack; an explicit fallback keeps its kind', () => {
  const reported: unknown[] = [];
  onInternalError((e) => reported.push(e));
  try {
    const bug = new TypeError('x is undefined');
    const error = toCoalesceError(bug);
    assert.equal(error.kind, 'internal');
    assert.match(error.message, /x is undefined/);
    assert.deepEqual(reported, [bug]);
    assert.equal(toCoalesceError(new Error('session died'), 'backend').kind, 'backend');
    const known = new CoalesceError('validation', 'bad');
    assert.equal(toCoalesceError(known), known);
    assert.equal(reported.length, 1);
  } finally {
    onInternalError(() => {});
  }
});

test('quote and clip bound what a message echoes', () => {
  const long = 'a'.repeat(200_000);
  assert.ok(quote(long).length < QUOTE_LIMIT + 40, quote(long));
  assert.match(quote(long), /200000 characters/);
  assert.equal(quote('left'), '"left"');
  assert.equal(quote(3.5), '3.5');
  let deep: unknown = 1;
  for (let i = 0; i < 20_000; i++) deep = [deep];
  assert.equal(quote(deep), 'an array of 1');
  assert.equal(clip('short'), 'short');
  assert.ok(clip(long).length < QUOTE_LIMIT + 40);
});
