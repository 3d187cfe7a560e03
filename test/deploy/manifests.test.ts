/**
 * Every shipped manifest is valid against the official schemas (kubernetes-models, and KEDA's),
 * with no field the schemas do not know (those kubernetes-models lets through, and a cluster
 * would drop or refuse), and the overlays render to what they promise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Pod, Service } from 'kubernetes-models/v1';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { build, readYamlDocuments, type Manifest } from './kustomize.js';
import { loadConfig, OPTIONS } from '../../src/config.js';

const MODELS: Record<string, { prototype: { validate(): void } }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/Pod': Pod,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

/**
 * Validates `manifest` and returns the paths of fields the schema does not define. The compiled
 * validators read every property their schema defines (`data.x === undefined ? ...`) and
 * enumerate the keys of maps (labels, resources); so a key that was neither read nor enumerated
 * is one the schema does not have.
 */
function validateStrictly(manifest: Manifest): string[] {
  const model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  assert.ok(model, `no schema for ${manifest.apiVersion} ${manifest.kind}`);
  const read = new Map<object, Set<PropertyKey>>();
  const enumerated = new Set<object>();
  const proxies = new Map<object, object>();
  const wrap = (value: unknown): unknown => {
    if (!value || typeof value !== 'object') return value;
    let proxy = proxies.get(value);
    if (!proxy) {
      read.set(value, new Set());
      proxy = new Proxy(value, {
        get: (target, key, receiver) => {
          read.get(target)!.add(key);
          return wrap(Reflect.get(target, key, receiver));
        },
        has: (target, key) => {
          read.get(target)!.add(key);
          return Reflect.has(target, key);
        },
        ownKeys: (target) => {
          enumerated.add(target);
          return Reflect.ownKeys(target);
        },
      });
      proxies.set(value, proxy);
    }
    return proxy;
  };
  model.prototype.validate.call(wrap(manifest));
  const unknown: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (!value || typeof value !== 'object') return;
    if (Array.isArray(value)) return value.forEach((v, i) => walk(v, `${path}[${i}]`));
    const seen = read.get(value);
    for (const [key, child] of Object.entries(value)) {
      if (!enumerated.has(value) && !seen?.has(key)) unknown.push(`${path}.${key}`);
      else walk(child, `${path}.${key}`);
    }
  };
  walk(manifest, '');
  return unknown;
}

const name = (m: Manifest) => `${m.kind}/${m.metadata?.name}`;

function checkAll(manifests: Manifest[], where: string): void {
  for (const m of manifests) {
    assert.deepEqual(validateStrictly(m), [], `${where}: ${name(m)} has fields its schema does not define`);
  }
}

test('the strict check catches a misspelt field and a misplaced one', () => {
  const [deployment] = readYamlDocuments('deploy/kubernetes/base/deployment.yaml');
  const container = deployment.spec.template.spec.containers[0];
  const bad = structuredClone(deployment);
  bad.spec.template.spec.containers[0] = { ...container, readinesProbe: container.readinessProbe };
  bad.spec.terminationGracePeriodSeconds = 30;
  assert.deepEqual(validateStrictly(bad), ['.spec.template.spec.containers[0].readinesProbe', '.spec.terminationGracePeriodSeconds']);
  const wrongType = structuredClone(deployment);
  wrongType.spec.replicas = 'two';
  assert.throws(() => validateStrictly(wrongType), /replicas/);
});

test('every file under deploy/ is a valid, strictly known manifest', () => {
  const files = ['deploy/sidecar/pod.yaml'];
  for (const dir of ['deploy/kubernetes/base', 'deploy/kubernetes/overlays/cpu', 'deploy/kubernetes/overlays/gpu']) {
    for (const f of readdirSync(dir)) if (f.endsWith('.yaml') && f !== 'kustomization.yaml') files.push(join(dir, f));
  }
  for (const file of files) {
    const docs = readYamlDocuments(file);
    // A patch is a partial object: it is checked as part of its rendered overlay below.
    if (file.endsWith('overlays/gpu/gpu.yaml')) continue;
    checkAll(docs, file);
  }
});

function deploymentOf(manifests: Manifest[]): Manifest {
  const d = manifests.find((m) => m.kind === 'Deployment');
  assert.ok(d);
  return d;
}

test('the overlays render valid manifests: cpu with KEDA, gpu with a GPU and an HPA', () => {
  const cpu = build('deploy/kubernetes/overlays/cpu');
  checkAll(cpu, 'overlays/cpu');
  assert.deepEqual(cpu.map(name).sort(), ['Deployment/coalesce', 'PodDisruptionBudget/coalesce', 'ScaledObject/coalesce', 'Service/coalesce']);
  assert.equal(deploymentOf(cpu).spec.template.spec.containers[0].image, 'registry.example.com/coalesce:cpu');
  const keda = cpu.find((m) => m.kind === 'ScaledObject')!;
  assert.match(keda.spec.triggers[0].metadata.query, /te_queue_size/);

  const gpu = build('deploy/kubernetes/overlays/gpu');
  checkAll(gpu, 'overlays/gpu');
  const container = deploymentOf(gpu).spec.template.spec.containers[0];
  assert.equal(container.image, 'registry.example.com/coalesce:cuda');
  assert.equal(container.resources.limits['nvidia.com/gpu'], '1');
  assert.ok(container.env.some((e: { name: string; value: string }) => e.name === 'DEVICE' && e.value === 'cuda'));
  // The patch merged into the base container, keeping its probes and drain settings.
  assert.ok(container.readinessProbe && container.env.some((e: { name: string }) => e.name === 'SHUTDOWN_GRACE_MS'));
  const hpa = gpu.find((m) => m.kind === 'HorizontalPodAutoscaler')!;
  assert.equal(hpa.spec.metrics[0].pods.metric.name, 'te_queue_size');
});

test('probes and the termination grace match the drain', () => {
  const d = deploymentOf(build('deploy/kubernetes/overlays/cpu'));
  const spec = d.spec.template.spec;
  const c = spec.containers[0];
  const env = Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, Number(e.value)]));
  const preStop = c.lifecycle?.preStop?.sleep?.seconds ?? 0;
  // preStop runs before SIGTERM; then the grace (still serving) and the timeout (finishing).
  assert.ok(
    spec.terminationGracePeriodSeconds * 1000 > preStop * 1000 + env.SHUTDOWN_GRACE_MS + env.SHUTDOWN_TIMEOUT_MS,
    `terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} does not cover preStop + grace + timeout`,
  );
  assert.equal(c.readinessProbe.httpGet.path, '/health');
  // Readiness must turn within the grace, or endpoints keep the pod while it stops accepting.
  assert.ok(c.readinessProbe.periodSeconds * c.readinessProbe.failureThreshold * 1000 < env.SHUTDOWN_GRACE_MS);
  // Liveness must not restart a busy or draining pod: not /health.
  assert.ok(c.livenessProbe.httpGet?.path !== '/health');
});

test('every variable a manifest sets on the server is an option it reads, with a value it accepts', () => {
  const known = new Set(Object.values(OPTIONS).flatMap((o) => [o.env, ...(o.envAliases ?? [])]));
  const servers = [
    ...['deploy/kubernetes/base', 'deploy/kubernetes/overlays/cpu', 'deploy/kubernetes/overlays/gpu'].map(
      (dir) => [dir, deploymentOf(build(dir)).spec.template.spec.containers] as const,
    ),
    ['deploy/sidecar/pod.yaml', readYamlDocuments('deploy/sidecar/pod.yaml')[0].spec.containers] as const,
  ];
  for (const [where, containers] of servers) {
    const server = containers.find((c: { name: string }) => c.name === 'coalesce');
    assert.ok(server, `${where}: no coalesce container`);
    const env: { name: string; value?: string }[] = server.env ?? [];
    // A misspelt name would be ignored without a word: the server reads only its own.
    for (const { name } of env) assert.ok(known.has(name), `${where}: ${name} is not an option of the server`);
    assert.doesNotThrow(() => loadConfig([], Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]))), where);
  }
});
