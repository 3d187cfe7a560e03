import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIG_DOCS_PATH, configDocs, withGeneratedDocs } from '../scripts/config-docs.js';
import { OPTIONS } from '../src/config.js';
import { TEI_FLAGS } from '../src/tei-flags.js';

test('docs/configuration.md holds what `npm run docs:config` writes from the table (run it after changing an option)', () => {
  const page = readFileSync(CONFIG_DOCS_PATH, 'utf8');
  assert.ok(page.endsWith(configDocs()), 'the generated part is stale: npm run docs:config');
  assert.equal(withGeneratedDocs(page), page);
});

test('regenerating keeps the prose above the generated part', () => {
  const stale = '# Title\n\nProse.\n\n' + configDocs().replace('## Options', '## Old options');
  assert.equal(withGeneratedDocs(stale), '# Title\n\nProse.\n\n' + configDocs());
  assert.equal(withGeneratedDocs('# Title\n'), '# Title\n\n' + configDocs());
});

test('the generated page names every option, its variable, and every TEI flag', () => {
  const page = configDocs();
  for (const spec of Object.values(OPTIONS)) {
    assert.ok(page.includes(`\`${spec.flag}\``), `lacks ${spec.flag}`);
    assert.ok(page.includes(`\`${spec.env}\``), `lacks ${spec.env}`);
  }
  for (const t of TEI_FLAGS) assert.match(page, new RegExp(`\\| \`${t.flag}\` \\| \`${t.env}\` \\| (supported|alias of|accepted|\\*\\*refused\\*\\*)`));
});
