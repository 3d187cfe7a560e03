import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { ERROR_TYPE } from '../src/errors.js';
import { HTTP_STATUS } from '../src/transport/http/errors.js';
import { GRPC_STATUS } from '../src/transport/grpc/errors.js';

test('TEI names both limit and shape errors Validation; HTTP answers limits 413 and shapes 422', () => {
  assert.deepEqual([HTTP_STATUS.over_limit, ERROR_TYPE.over_limit, GRPC_STATUS.over_limit], [413, 'Validation', status.INVALID_ARGUMENT]);
  assert.deepEqual([HTTP_STATUS.validation, ERROR_TYPE.validation, GRPC_STATUS.validation], [422, 'Validation', status.INVALID_ARGUMENT]);
  assert.deepEqual([HTTP_STATUS.tokenizer, GRPC_STATUS.tokenizer], [422, status.FAILED_PRECONDITION]);
  assert.deepEqual([HTTP_STATUS.overloaded, HTTP_STATUS.backend, HTTP_STATUS.unhealthy, HTTP_STATUS.empty], [429, 424, 503, 400]);
});
