/**
 * One process owns the model: under concurrent load the server has no child processes, and on
 * a GPU it is the only process holding the device. COALESCE_TEST_DEVICE=cuda (and
 * COALESCE_TEST_MODEL / COALESCE_TEST_ONNX) run the same test on the GPU machine.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { within } from '../../helpers/wait-for.js';

const DEVICE = process.env.COALESCE_TEST_DEVICE ?? 'cpu';
const MODEL = process.env.COALESCE_TEST_MODEL ?? 'test/fixtures/tiny-bert';
const ONNX = process.env.COALESCE_TEST_ONNX;
const MAIN_JS = fileURLToPath(new URL('../../../src/main.js', import.meta.url));
const SRC = fileURLToPath(new URL('../../../../src', import.meta.url));

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

test('the server source never forks: no child_process or cluster import', () => {
  const offenders = sourceFiles(SRC).filter((f) =>
    /from ['"](node:)?(child_process|cluster)['"]|require\(['"](node:)?(child_process|cluster)['"]\)/.test(readFileSync(f, 'utf8')),
  );
  assert.deepEqual(offenders, []);
});

test(`under concurrent load the server stays one process (device ${DEVICE})`, {
  skip: process.platform !== 'linux' ? 'reads /proc' : false,
  timeout: 240_000,
}, async (t) => {
  const args = [
    MAIN_JS,
    '--model',
    MODEL,
    '--device',
    DEVICE,
    '--port',
    '0',
    '--hostname',
    '127.0.0.1',
    '--grpc-port',
    '-1',
    '--tokenization-workers',
    '2',
    ...(ONNX ? ['--onnx-file', ONNX] : []),
  ];
  const server = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  let sampler: NodeJS.Timeout | undefined;
  try {
    const url = await within(
      new Promise<string>((resolve, reject) => {
        server.stderr.on('data', (d) => {
          log += d;
          const m = /listening.* http=(\S+)/.exec(log);
          if (m) resolve(m[1]);
        });
        server.on('exit', (code) => reject(new Error(`server exited (${code}): ${log}`)));
      }),
      60_000,
      'the server to listen',
    );
    const info = (await (await fetch(url + '/info')).json()) as { execution_provider: string; device: string; sessions: number };
    if (DEVICE.startsWith('cuda')) assert.equal(info.execution_provider, 'cuda');
    assert.match(log, /model loaded .*provider=/, 'the startup log says which provider runs');

    const samples: { children: number[]; gpuPids: number[] | null }[] = [];
    const sample = () => {
      const gpu = DEVICE === 'cpu' ? null : spawnSync('nvidia-smi', ['--query-compute-apps=pid', '--format=csv,noheader'], { encoding: 'utf8' });
      samples.push({ children: childrenOf(server.pid!), gpuPids: gpu && gpu.status === 0 ? gpu.stdout.split('\n').filter(Boolean).map(Number) : null });
    };
    // Processes are sampled all along the load, and once more at its end.
    sample();
    sampler = setInterval(sample, 50);
    const texts = Array.from({ length: 16 }, (_, i) => `request ${i}: ` + 'several words in a sentence '.repeat(1 + (i % 5)));
    for (let wave = 0; wave < 4; wave++) {
      const answers = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          fetch(url + '/embed', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ inputs: [texts[i % 16], texts[(i + 3) % 16]] }),
          }),
        ),
      );
      for (const a of answers) assert.equal(a.status, 200, await a.text());
    }
    clearInterval(sampler);
    sample();
    assert.ok(samples.length >= 2);
    if (DEVICE !== 'cpu')
      t.diagnostic(`GPU processes seen during load: ${JSON.stringify([...new Set(samples.flatMap((s) => s.gpuPids ?? []))])}, server pid ${server.pid}`);
    for (const s of samples) {
      assert.deepEqual(s.children, [], 'the server started no process');
      // Some containers hide other namespaces' pids from nvidia-smi: an empty list proves nothing either way.
      if (s.gpuPids && s.gpuPids.length > 0) assert.deepEqual(s.gpuPids, [server.pid], 'only the server process holds the GPU');
    }
  } finally {
    clearInterval(sampler);
    // A server that already exited (a failed start) has no exit event left to wait for.
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await within(exited, 30_000, 'the server to exit after SIGTERM');
    }
  }
});
