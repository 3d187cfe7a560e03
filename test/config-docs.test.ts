import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIG_DOCS_PATH, configDocs } from '../scripts/config-docs.js';
import { OPTIONS } from '../src/config.js';
import { TEI_FLAGS } from '../src/tei-flags.js';

test('docs/configuration.md is what `npm run docs:config` writes from the table (run it after changing an option)', () => {
  assert.equal(readFileSync(CONFIG_DOCS_PATH, 'utf8'), configDocs());
});

test('the generated page names every option, its variable, and every TEI flag', () => {
  const page = configDocs();
  for (const spec of Object.values(OPTIONS)) {
    assert.ok(page.includes(`\`${spec.flag}\``), `lacks ${spec.flag}`);
    assert.ok(page.includes(`\`${spec.env}\``), `lacks ${spec.env}`);
  }
  for (const t of TEI_FLAGS) assert.match(page, new RegExp(`\\| \`${t.flag}\` \\| \`${t.env}\` \\| (supported|alias of|accepted|\\*\\*refused\\*\\*)`));
});
