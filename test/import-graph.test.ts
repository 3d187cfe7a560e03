/**
 * The layering rule of docs/architecture.md, checked on the real source: no import cycle between
 * src/'s top-level folders (and top-level files), the core free of transport, runtime and
 * tokenizer packages, and onnx-graph a library that imports nothing of the server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../src/paths.js';
import { forbiddenImports, importEdges, unitCycles, type ImportEdge } from './helpers/import-graph.js';

const edges = importEdges(join(PROJECT_ROOT, 'src'));

/** Packages the core must not see: HTTP, gRPC, ONNX Runtime, the tokenizer library. */
const CORE_FORBIDDEN = /^(hono(\/.*)?|@hono\/.*|@grpc\/.*|onnxruntime-node(\/.*)?|@huggingface\/tokenizers(\/.*)?)$/;

test('the scanner sees the source: hundreds of imports, among them known ones', () => {
  assert.ok(edges.length > 300, `only ${edges.length} imports found`);
  assert.ok(edges.some((e) => e.from === 'server.ts' && e.to === 'core/embedder.ts'));
  assert.ok(edges.some((e) => e.from === 'transport/http/schemas.ts' && e.spec === 'zod/v4'));
  // A worker entry point counts as an import of the file that starts it.
  assert.ok(edges.some((e) => e.from === 'backend/ort/ort-backend.ts' && e.to === 'backend/ort/session-worker.ts'));
});

test('no import cycle between top-level folders of src/', () => {
  const cycles = unitCycles(edges);
  assert.deepEqual(cycles, [], cycles.map((c) => `${c.units.join(' <-> ')}:\n  ${c.imports.join('\n  ')}`).join('\n'));
});

test('src/core imports no HTTP, gRPC, ONNX Runtime or tokenizer package', () => {
  assert.deepEqual(
    forbiddenImports(edges, 'core', ({ spec, unit }) => unit === null && CORE_FORBIDDEN.test(spec)),
    [],
  );
});

test('src/onnx-graph imports nothing of the server but paths.ts', () => {
  assert.deepEqual(
    forbiddenImports(edges, 'onnx-graph', ({ unit }) => unit !== null && unit !== 'onnx-graph' && unit !== 'paths.ts'),
    [],
  );
});

test('the checks catch what they look for', () => {
  const fake: ImportEdge[] = [
    { from: 'core/a.ts', spec: '../backend/b.js', to: 'backend/b.ts' },
    { from: 'backend/b.ts', spec: '../model-prep/c.js', to: 'model-prep/c.ts' },
    { from: 'model-prep/c.ts', spec: '../core/d.js', to: 'core/d.ts' },
    { from: 'transport/t.ts', spec: '../core/a.js', to: 'core/a.ts' },
    { from: 'core/d.ts', spec: '@grpc/grpc-js', to: null },
  ];
  assert.deepEqual(unitCycles(fake), [
    { units: ['backend', 'core', 'model-prep'], imports: ['core/a.ts -> backend/b.ts', 'backend/b.ts -> model-prep/c.ts', 'model-prep/c.ts -> core/d.ts'] },
  ]);
  assert.deepEqual(
    forbiddenImports(fake, 'core', ({ spec, unit }) => unit === null && CORE_FORBIDDEN.test(spec)),
    ['core/d.ts -> @grpc/grpc-js'],
  );
});
