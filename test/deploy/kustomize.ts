/**
 * The small part of kustomize that deploy/kubernetes uses, to render its overlays in tests
 * (kubectl and kustomize cannot be installed here): `resources` (files and kustomization
 * folders), `images` (newName / newTag) and `patches` with `path` as strategic merge patches
 * (maps merge; lists of objects with a `name` merge by name; other lists are replaced). Anything
 * else in a kustomization.yaml is refused, so the manifests cannot come to rely on a feature this
 * renderer ignores.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Manifest = Record<string, any>;

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'images', 'patches']);

export function readYamlDocuments(path: string): Manifest[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${path}: ${d.errors[0].message}`);
    return d.toJS() as Manifest;
  });
}

export function build(dir: string): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${dir}: no kustomization.yaml`);
  const k = readYamlDocuments(file)[0];
  for (const key of Object.keys(k)) if (!SUPPORTED.has(key)) throw new Error(`${file}: '${key}' is not supported by the test renderer`);
  let out: Manifest[] = [];
  for (const r of k.resources ?? []) {
    const path = join(dir, r);
    out.push(...(statSync(path).isDirectory() ? build(path) : readYamlDocuments(path)));
  }
  for (const p of k.patches ?? []) {
    if (Object.keys(p).join() !== 'path') throw new Error(`${file}: only patches with a path are supported`);
    for (const patch of readYamlDocuments(join(dir, p.path))) {
      const i = out.findIndex((m) => m.kind === patch.kind && m.metadata?.name === patch.metadata?.name);
      if (i < 0) throw new Error(`${file}: patch ${p.path} matches no ${patch.kind} ${patch.metadata?.name}`);
      out[i] = merge(out[i], patch);
    }
  }
  for (const image of k.images ?? []) out = out.map((m) => setImages(m, image));
  return out;
}

function merge(base: any, patch: any): any {
  if (Array.isArray(base) && Array.isArray(patch)) {
    if (!patch.every((p) => p && typeof p === 'object' && 'name' in p)) return patch;
    const result = base.map((b) => ({ ...b }));
    for (const p of patch) {
      const i = result.findIndex((b) => b.name === p.name);
      if (i >= 0) result[i] = merge(result[i], p);
      else result.push(p);
    }
    return result;
  }
  if (base && patch && typeof base === 'object' && typeof patch === 'object' && !Array.isArray(base) && !Array.isArray(patch)) {
    const result = { ...base };
    for (const [key, value] of Object.entries(patch)) result[key] = key in base ? merge(base[key], value) : value;
    return result;
  }
  return patch;
}

function setImages(manifest: Manifest, image: { name: string; newName?: string; newTag?: string }): Manifest {
  const spec = manifest.spec?.template?.spec;
  if (!spec) return manifest;
  const rename = (c: { image: string }) => {
    const [name, tag] = c.image.split(':');
    if (name !== image.name) return c;
    return { ...c, image: `${image.newName ?? name}:${image.newTag ?? tag}` };
  };
  return { ...manifest, spec: { ...manifest.spec, template: { ...manifest.spec.template, spec: { ...spec, containers: spec.containers.map(rename) } } } };
}
