import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT, projectRootFrom } from '../src/paths.js';

test('the project root is the nearest package.json above the first start that has one', () => {
  const top = mkdtempSync(join(tmpdir(), 'coalesce-root-'));
  const project = join(top, 'tree');
  const elsewhere = join(top, 'kit', 'dist', 'src');
  mkdirSync(join(project, 'dist', 'src'), { recursive: true });
  mkdirSync(elsewhere, { recursive: true });
  writeFileSync(join(project, 'package.json'), '{}');
  assert.equal(projectRootFrom([join(project, 'dist', 'src')]), project);
  // A module loaded from a tree with no package.json above it (dist/ linked from the GPU kit): the next start decides.
  assert.equal(projectRootFrom([elsewhere, join(project, 'dist')]), project);
  assert.equal(projectRootFrom([elsewhere]), null);
  assert.ok(PROJECT_ROOT.length > 0);
});
