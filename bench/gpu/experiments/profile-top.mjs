// Summarizes the V8 CPU profiles of one process (node --cpu-prof): the main thread's top functions
// by self time, and the same over all its other threads together. Used to see what the server's
// main thread spends its time on under the image bench.
// usage: node bench/gpu/experiments/profile-top.mjs DIR PID [TOP]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, pid, top = '18'] = process.argv.slice(2);
const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[3] === pid);
function selfTimes(file) {
  const p = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  p.samples.forEach((s, i) => {
    const n = byId.get(s);
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + p.timeDeltas[i]);
    total += p.timeDeltas[i];
  });
  return { self, total };
}
function print(title, self, total) {
  const idle = self.get('(idle) :-1') ?? 0;
  console.log(`== ${title}: ${(total / 1e6).toFixed(1)} s profiled, busy ${(((total - idle) / total) * 100).toFixed(0)} %`);
  for (const [k, v] of [...self]
    .filter(([k]) => k !== '(idle) :-1')
    .sort((a, b) => b[1] - a[1])
    .slice(0, Number(top))) {
    console.log(`${((v / (total - idle)) * 100).toFixed(1).padStart(5)} %  ${k}`);
  }
}
const main = files.find((f) => f.split('.')[4] === '0');
if (main) {
  const { self, total } = selfTimes(main);
  print(`main thread (${main})`, self, total);
}
const others = new Map();
let otherTotal = 0;
for (const f of files.filter((f) => f !== main)) {
  const { self, total } = selfTimes(f);
  otherTotal += total;
  for (const [k, v] of self) others.set(k, (others.get(k) ?? 0) + v);
}
print(`${files.length - 1} other threads together`, others, otherTotal);
