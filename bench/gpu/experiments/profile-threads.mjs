// Summarizes the V8 CPU profiles of one server process (node --cpu-prof, every thread writes one),
// grouped by kind of thread (main, HTTP, tokenizer, session, other, told apart by the scripts in
// their profiles): each kind's busy share, then its top functions and top files by self time.
// usage: node bench/gpu/experiments/profile-threads.mjs DIR [TOP]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, top = '15'] = process.argv.slice(2);
const KINDS = [
  ['http', 'http-thread.js'],
  ['tokenizer', 'tokenizer-worker.js'],
  ['session', 'session-worker.js'],
  ['vision', 'vision-worker.js'],
];
const groups = new Map();
for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  const p = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const urls = p.nodes.map((n) => n.callFrame.url);
  const kind = file.split('.')[4] === '0' ? 'main' : (KINDS.find(([, script]) => urls.some((u) => u.endsWith(script)))?.[0] ?? 'other');
  const g = groups.get(kind) ?? { threads: 0, total: 0, idle: 0, fns: new Map(), files: new Map() };
  g.threads++;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  p.samples.forEach((s, i) => {
    const f = byId.get(s).callFrame;
    const dt = p.timeDeltas[i];
    g.total += dt;
    if (f.functionName === '(idle)') return void (g.idle += dt);
    const where = f.url.includes('node_modules/')
      ? f.url.split('node_modules/')[1].split('/').slice(0, 2).join('/')
      : f.url.includes('/dist/')
        ? f.url.split('/dist/')[1]
        : f.url || '(native)';
    const fn = `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber}`;
    g.fns.set(fn, (g.fns.get(fn) ?? 0) + dt);
    g.files.set(where, (g.files.get(where) ?? 0) + dt);
  });
  groups.set(kind, g);
}
for (const [kind, g] of groups) {
  const busy = g.total - g.idle;
  console.log(`\n== ${kind}: ${g.threads} thread(s), ${(g.total / 1e6 / g.threads).toFixed(1)} s profiled each, busy ${((busy / g.total) * 100).toFixed(0)} %`);
  const show = (m) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, Number(top))
      .forEach(([k, v]) => console.log(`${((v / busy) * 100).toFixed(1).padStart(5)} %  ${k}`));
  console.log('-- functions');
  show(g.fns);
  console.log('-- files');
  show(g.files);
}
