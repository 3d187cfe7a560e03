/** Prints the README's options table from the one config schema: `node dist/scripts/options-table.js`. */
import { OPTIONS } from '../src/config.js';

const rows = Object.values(OPTIONS).map((o) => {
  const choices = 'choices' in o && o.choices ? ` One of ${o.choices.join(', ')}.` : '';
  return `| \`${o.flag}\` | \`${o.env}\` | ${o.default === null ? '—' : `\`${String(o.default)}\``} | ${o.doc}${choices} |`;
});
process.stdout.write(['| flag | env | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n') + '\n');
