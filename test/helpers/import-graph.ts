/**
 * The import graph of src/, read with the TypeScript compiler's own import scanner: every
 * static import, export-from, dynamic import() and worker entry (new URL('./x.js', import.meta.url)),
 * type-only imports included (they couple folders as much as value imports do).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  /** Importing file, relative to src/ ('core/batcher.ts'). */
  from: string;
  /** The specifier as written. */
  spec: string;
  /** The imported file relative to src/, or null for a package ('hono', 'node:fs'). */
  to: string | null;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

const WORKER_ENTRY = /new URL\(\s*(['"])(\.{1,2}\/[^'"]+)\1\s*,\s*import\.meta\.url\s*\)/g;

export function importEdges(srcDir: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const path of sourceFiles(srcDir)) {
    const from = relative(srcDir, path).split(sep).join('/');
    const text = readFileSync(path, 'utf8');
    const specs = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
    for (const m of text.matchAll(WORKER_ENTRY)) specs.push(m[2]);
    for (const spec of specs) {
      const to = spec.startsWith('.') ? posix.normalize(posix.join(dirname(from), spec)).replace(/\.js$/, '.ts') : null;
      edges.push({ from, spec, to });
    }
  }
  return edges;
}

/** A file's unit: its top-level folder under src/ ('core'), or the file itself for files at the top ('server.ts'). */
export function unitOf(file: string): string {
  const slash = file.indexOf('/');
  return slash < 0 ? file : file.slice(0, slash);
}

/**
 * Groups of units that import each other, directly or around a loop (strongly connected
 * components of more than one unit, Tarjan's algorithm), each with the file imports that close it.
 */
export function unitCycles(edges: readonly ImportEdge[]): { units: string[]; imports: string[] }[] {
  const graph = new Map<string, Set<string>>();
  for (const e of edges) {
    if (e.to === null) continue;
    const a = unitOf(e.from);
    const b = unitOf(e.to);
    if (!graph.has(a)) graph.set(a, new Set());
    if (!graph.has(b)) graph.set(b, new Set());
    if (a !== b) graph.get(a)!.add(b);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return components.map((units) => ({
    units,
    imports: edges
      .filter((e) => e.to !== null && unitOf(e.from) !== unitOf(e.to) && units.includes(unitOf(e.from)) && units.includes(unitOf(e.to)))
      .map((e) => `${e.from} -> ${e.to}`),
  }));
}

/** Imports by files of `unit` whose target matches one of `forbidden` (package names or src/ units). */
export function forbiddenImports(edges: readonly ImportEdge[], unit: string, forbidden: (target: { spec: string; unit: string | null }) => boolean): string[] {
  return edges
    .filter((e) => unitOf(e.from) === unit && forbidden({ spec: e.spec, unit: e.to === null ? null : unitOf(e.to) }))
    .map((e) => `${e.from} -> ${e.to ?? e.spec}`);
}
