import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_TYPE, GRPC_CODE, GRPC_STATUS, HTTP_STATUS } from '../src/errors.js';

test("TEI's statuses: its own limit checks 413, body-shape errors 422, both named Validation; tokenizer errors FAILED_PRECONDITION over gRPC", () => {
  assert.deepEqual([HTTP_STATUS.over_limit, ERROR_TYPE.over_limit, GRPC_STATUS.over_limit], [413, 'Validation', GRPC_CODE.INVALID_ARGUMENT]);
  assert.deepEqual([HTTP_STATUS.validation, ERROR_TYPE.validation, GRPC_STATUS.validation], [422, 'Validation', GRPC_CODE.INVALID_ARGUMENT]);
  assert.deepEqual([HTTP_STATUS.tokenizer, GRPC_STATUS.tokenizer], [422, GRPC_CODE.FAILED_PRECONDITION]);
  assert.deepEqual([HTTP_STATUS.overloaded, HTTP_STATUS.backend, HTTP_STATUS.unhealthy, HTTP_STATUS.empty], [429, 424, 503, 400]);
});
