/** The result of check.ts and its markdown. */
import type { RunMeta } from '../../../run-meta.js';
import type { Latency } from './timing.js';

export interface ShapeCheck {
  shape: string;
  path: string;
  /** Against onnxruntime-node: first rows, second rows, first rows again. */
  maxAbsDiff: number[];
  ok: boolean;
}

export interface ErrorCase {
  case: string;
  /** null: no error came (a failure). */
  error: string | null;
}

export interface CheckReport extends RunMeta {
  device: string;
  /** Which created ORT's process-wide env first. */
  order: string;
  model: string;
  ortVersion: string;
  ortApiVersion: number;
  buildInfo: string;
  library: string;
  threads: number;
  text: string;
  textTokens: number;
  tolerance: number;
  /** Mean time of one koffi call into ORT that does nothing else (GetErrorCode). */
  ffiCallNs: number;
  shapeChecks: ShapeCheck[];
  errorCases: ErrorCase[];
  latency: Latency[];
  /** CUDA: where a C API call's time goes, and which copy path ran. */
  phases: { path: string; copyMode: string | null; hostMemory: string; notes: string[]; meanUs: { copyIn: number; run: number; copyOut: number } }[];
  /** --simulate-cuda-runner: the CUDA runner's bookkeeping checked on CPU memory. */
  simulation: { path: string; copyMode: string | null; hostMemory: string; notes: string[] }[];
  failures: string[];
}

const ms = (x: number) => x.toFixed(3);

export function markdown(r: CheckReport): string {
  const base = r.latency[0];
  const lines = [
    `# ONNX Runtime's C API through koffi vs onnxruntime-node (${r.device})`,
    '',
    `${r.date}, commit ${r.commit}, ${r.machine}, load average at start ${r.loadAverageAtStart.join(' ')}.${r.note ? ` ${r.note}` : ''}`,
    `ONNX Runtime ${r.ortVersion} (C API version ${r.ortApiVersion}), both paths in one process on onnxruntime-node's libonnxruntime.so.1 ` +
      `(env made first by ${r.order === 'node-first' ? 'onnxruntime-node' : 'the C API'}); model \`${r.model}\`; intra-op threads ${r.threads}.`,
    '',
    `## One short text (${r.textTokens} tokens: "${r.text}"), one call`,
    '',
    `${base?.runs ?? 0} calls per path after warm-up, the paths interleaved in rounds; a call is token ids in JS to the output (last_hidden_state) in JS.`,
    '',
    '| path | p50 ms | p90 ms | p99 ms | mean ms | min ms | p50 / onnxruntime-node p50 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...r.latency.map(
      (l) => `| ${l.label} | ${ms(l.p50Ms)} | ${ms(l.p90Ms)} | ${ms(l.p99Ms)} | ${ms(l.meanMs)} | ${ms(l.minMs)} | ${(l.p50Ms / base.p50Ms).toFixed(2)} |`,
    ),
    '',
    `One koffi call into ORT that only reads a field (GetErrorCode) takes ${r.ffiCallNs.toFixed(0)} ns; ` +
      `a C API call above makes ${r.device === 'cpu' ? 'one (RunWithBinding)' : 'three (copy in, RunWithBinding, copy out)'}.`,
  ];
  if (r.phases.length > 0) {
    lines.push('', '| C API path | copy | host staging | copy in µs | run µs | copy out µs | notes |', '| --- | --- | --- | ---: | ---: | ---: | --- |');
    for (const p of r.phases) {
      lines.push(
        `| ${p.path} | ${p.copyMode ?? '-'} | ${p.hostMemory} | ${p.meanUs.copyIn.toFixed(1)} | ${p.meanUs.run.toFixed(1)} | ${p.meanUs.copyOut.toFixed(1)} | ${p.notes.join('; ') || '-'} |`,
      );
    }
  }
  lines.push(
    '',
    `## Same outputs as onnxruntime-node (max abs difference, tolerance ${r.tolerance})`,
    '',
    'Per shape: one row of ids, a different row, the first again (bound buffers, and captured graphs, must read new ids every call).',
    '',
    '| shape | path | max abs diff | ok |',
    '| --- | --- | --- | --- |',
    ...r.shapeChecks.map((c) => `| ${c.shape} | ${c.path} | ${c.maxAbsDiff.map((d) => d.toExponential(1)).join(', ')} | ${c.ok ? 'yes' : '**no**'} |`),
    '',
    '## Bad input: an Error, and the process goes on',
    '',
    '| case | error |',
    '| --- | --- |',
    ...r.errorCases.map((c) => `| ${c.case} | ${c.error === null ? '**none**' : c.error.replaceAll('|', '\\|')} |`),
  );
  for (const sim of r.simulation)
    lines.push('', `${sim.path}: copies ${sim.copyMode}, host staging ${sim.hostMemory}${sim.notes.length ? ` (${sim.notes.join('; ')})` : ''}.`);
  lines.push('', r.failures.length === 0 ? 'All checks passed.' : `**Failed:** ${r.failures.join('; ')}`, '');
  return lines.join('\n');
}
