// Validates Kubernetes manifests against the API schemas of npm kubernetes-models (and
// @kubernetes-models/prometheus-operator for the ServiceMonitor), rejecting unknown fields, and
// checks that they fit together. Usage:
//   node validate_k8s.mjs DIR            every manifest under DIR (deploy/k8s) and its kustomizations
//   node validate_k8s.mjs --files F...   only these manifests (the test's broken copies)
// Exit 0 when everything is valid, 1 with one line per problem otherwise.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

const problems = [];
const problem = (where, what) => problems.push(`${where}: ${what}`);

// --- schema validation ----------------------------------------------------------------------

// kubernetes-models names its modules after apiVersion and kind; the Prometheus Operator's CRDs
// are a separate package.
function modulePath(apiVersion, kind) {
  if (apiVersion.startsWith('monitoring.coreos.com/')) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

// The models' validate() checks types, enums and required fields, but accepts properties the
// schema does not name (the API server's strict field validation would reject them, and a
// misspelled probe or securityContext key would otherwise be dropped silently). The compiled
// validators read every property they know, so: run validate() on a proxy that records which
// keys were read, and call every key that was never read unknown.
function tracked(target, where, seen) {
  if (target === null || typeof target !== 'object') return target;
  const read = new Set();
  seen.push({ target, where, read });
  const children = new Map();
  return new Proxy(target, {
    get(t, key, receiver) {
      if (typeof key === 'string') read.add(key);
      const value = Reflect.get(t, key, receiver);
      if (typeof key !== 'string' || !Object.hasOwn(t, key)) return value;
      if (!children.has(key)) children.set(key, tracked(value, `${where}/${key}`, seen));
      return children.get(key);
    },
    has(t, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.has(t, key);
    },
  });
}

export async function validateResource(doc, where) {
  const errors = [];
  if (!doc || typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') {
    return [`${where}: not a Kubernetes object (apiVersion and kind)`];
  }
  let Model;
  try {
    const mod = await import(modulePath(doc.apiVersion, doc.kind));
    Model = mod[doc.kind];
  } catch (e) {
    return [`${where}: no schema for ${doc.apiVersion} ${doc.kind} (${e.code ?? e.message})`];
  }
  const seen = [];
  const model = new Model(doc);
  try {
    Model.prototype.validate.call(tracked(model, '', seen));
  } catch (e) {
    for (const line of String(e.message).split('\n')) errors.push(`${where}: ${line}`);
  }
  for (const { target, where: at, read } of seen) {
    if (Array.isArray(target)) continue;
    for (const key of Object.keys(target)) {
      if (!read.has(key)) errors.push(`${where}: ${at || '/'}: unknown field "${key}"`);
    }
  }
  return errors;
}

// --- the manifests fitting together ---------------------------------------------------------

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

function podTemplates(docs) {
  return docs.filter((d) => ['Deployment', 'StatefulSet'].includes(d.kind));
}

function checkReferences(docs, where) {
  const workloads = podTemplates(docs);
  for (const w of workloads) {
    if (!matches(w.spec.selector.matchLabels, w.spec.template.metadata?.labels)) {
      problem(where, `${w.kind} ${w.metadata.name}: selector does not match its pod template`);
    }
  }
  for (const svc of docs.filter((d) => d.kind === 'Service')) {
    const targets = workloads.filter((w) => matches(svc.spec.selector, w.spec.template.metadata?.labels));
    if (targets.length === 0) {
      problem(where, `Service ${svc.metadata.name}: its selector matches no pod template`);
      continue;
    }
    for (const port of svc.spec.ports) {
      for (const w of targets) {
        const ports = w.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
        const ok = typeof port.targetPort === 'string'
          ? ports.some((p) => p.name === port.targetPort)
          : ports.some((p) => p.containerPort === (port.targetPort ?? port.port));
        if (!ok) problem(where, `Service ${svc.metadata.name}: targetPort ${port.targetPort} is no container port of ${w.metadata.name}`);
      }
    }
  }
  for (const sts of docs.filter((d) => d.kind === 'StatefulSet')) {
    if (!docs.some((d) => d.kind === 'Service' && d.metadata.name === sts.spec.serviceName)) {
      problem(where, `StatefulSet ${sts.metadata.name}: no Service ${sts.spec.serviceName}`);
    }
  }
  for (const hpa of docs.filter((d) => d.kind === 'HorizontalPodAutoscaler')) {
    const ref = hpa.spec.scaleTargetRef;
    if (!docs.some((d) => d.kind === ref.kind && d.metadata.name === ref.name)) {
      problem(where, `HorizontalPodAutoscaler ${hpa.metadata.name}: no ${ref.kind} ${ref.name}`);
    }
  }
  for (const pdb of docs.filter((d) => d.kind === 'PodDisruptionBudget')) {
    if (!workloads.some((w) => matches(pdb.spec.selector.matchLabels, w.spec.template.metadata?.labels))) {
      problem(where, `PodDisruptionBudget ${pdb.metadata.name}: its selector matches no pod template`);
    }
  }
  for (const sm of docs.filter((d) => d.kind === 'ServiceMonitor')) {
    const svcs = docs.filter((d) => d.kind === 'Service' && matches(sm.spec.selector.matchLabels, d.metadata.labels));
    if (svcs.length === 0) problem(where, `ServiceMonitor ${sm.metadata.name}: its selector matches no Service`);
    for (const ep of sm.spec.endpoints) {
      if (!svcs.some((s) => s.spec.ports.some((p) => p.name === ep.port))) {
        problem(where, `ServiceMonitor ${sm.metadata.name}: no selected Service has a port named ${ep.port}`);
      }
    }
  }
  // Every ConfigMap a pod mounts is here (Secrets are the operator's to create).
  for (const w of workloads) {
    for (const v of w.spec.template.spec.volumes ?? []) {
      if (v.configMap && !docs.some((d) => d.kind === 'ConfigMap' && d.metadata.name === v.configMap.name)) {
        problem(where, `${w.kind} ${w.metadata.name}: volume ${v.name} mounts ConfigMap ${v.configMap.name}, which is not defined`);
      }
    }
  }
}

// A kustomization's `resources` must name exactly the manifests beside it (a file left out is
// never applied; a file named but missing breaks `kubectl apply -k`). Subfolders with their own
// kustomization are optional components, checked the same way on their own.
function checkKustomization(dir, where) {
  const file = path.join(dir, 'kustomization.yaml');
  const k = YAML.parse(fs.readFileSync(file, 'utf8'));
  const listed = (k.resources ?? []).slice().sort();
  const present = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
  for (const f of listed) if (!present.includes(f)) problem(where, `resources names ${f}, which does not exist`);
  for (const f of present) if (!listed.includes(f)) problem(where, `${f} is not in resources`);
  return k;
}

async function validateFile(file, label) {
  let docs;
  try {
    docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('; '));
      return d.toJS();
    }).filter((d) => d !== null);
  } catch (e) {
    problem(label, `YAML: ${e.message}`);
    return [];
  }
  for (const [i, doc] of docs.entries()) {
    for (const e of await validateResource(doc, `${label}[${i}] ${doc?.kind ?? '?'} ${doc?.metadata?.name ?? ''}`)) problems.push(e);
  }
  return docs;
}

// --- the validator's own teeth ---------------------------------------------------------------

// Each of these must be rejected, or the validator proves nothing.
async function selfTest(deployment) {
  const broken = {
    'an unknown field in a container': (d) => { d.spec.template.spec.containers[0].imagePullPolicyy = 'Always'; },
    'an unknown field in a probe': (d) => { d.spec.template.spec.containers[0].readinessProbe.httpGet.pathh = '/readyz'; },
    'a wrong type (httpGet path: 8080)': (d) => { d.spec.template.spec.containers[0].livenessProbe.httpGet.path = 8080; },
    'an unknown field at the top of spec': (d) => { d.spec.replica = 2; },
    'a wrong type (replicas: "two")': (d) => { d.spec.replicas = 'two'; },
    'a wrong type (containerPort: "8080")': (d) => { d.spec.template.spec.containers[0].ports[0].containerPort = '8080'; },
    'a missing required field (container name)': (d) => { delete d.spec.template.spec.containers[0].name; },
  };
  if ((await validateResource(deployment, 'self-test')).length) {
    problem('self-test', 'the unmodified Deployment is not valid, so the checks below prove nothing');
  }
  for (const [what, breakIt] of Object.entries(broken)) {
    const copy = structuredClone(deployment);
    breakIt(copy);
    const errors = await validateResource(copy, 'self-test');
    if (errors.length === 0) problem('self-test', `a Deployment with ${what} passed validation`);
    else console.log(`self-test: rejected ${what}: ${errors[0]}`);
  }
}

// --- main ------------------------------------------------------------------------------------

const args = process.argv.slice(2);
if (args[0] === '--files') {
  for (const f of args.slice(1)) await validateFile(f, f);
} else {
  const root = path.resolve(args[0]);
  // Name files from the repository root (DIR's grandparent: deploy/k8s/...).
  const rel = (f) => path.relative(path.dirname(path.dirname(root)), f) || '.';
  const all = [];
  const dirs = [root, ...fs.readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory()).map((e) => path.join(root, e.name))];
  let count = 0;
  for (const dir of dirs) {
    if (!fs.existsSync(path.join(dir, 'kustomization.yaml'))) {
      problem(rel(dir), 'no kustomization.yaml');
      continue;
    }
    const k = checkKustomization(dir, rel(path.join(dir, 'kustomization.yaml')));
    for (const f of (k.resources ?? []).filter((r) => fs.existsSync(path.join(dir, r)))) {
      const docs = await validateFile(path.join(dir, f), rel(path.join(dir, f)));
      count += docs.length;
      all.push(...docs);
    }
  }
  checkReferences(all, rel(root));
  const deployment = all.find((d) => d.kind === 'Deployment' && d.metadata.name === 'augur');
  if (!deployment) problem(rel(root), 'no Deployment augur');
  else await selfTest(deployment);
  if (!problems.length) console.log(`${rel(root)}: ${count} resources valid`);
}
for (const p of problems) console.error(p);
process.exit(problems.length ? 1 : 0);
