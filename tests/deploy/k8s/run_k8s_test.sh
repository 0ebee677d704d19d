#!/usr/bin/env bash
# Installs kubernetes-models (Kubernetes and Prometheus Operator API schemas) and a YAML parser
# into a scratch folder in the build tree, then validates every manifest of deploy/k8s (no
# cluster needed) and proves the validator fails on broken copies.
set -euo pipefail
src_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(cd "$src_dir/../../.." && pwd)
work_dir=$1
mkdir -p "$work_dir"
cp "$src_dir/package.json" "$src_dir/validate_k8s.mjs" "$work_dir/"
cd "$work_dir"
if [ ! -d node_modules/kubernetes-models ] || [ ! -d node_modules/@kubernetes-models/prometheus-operator ] \
   || [ ! -d node_modules/yaml ]; then
  npm install --no-audit --no-fund --loglevel=error >/dev/null
fi

# 1. Every manifest, each kustomization's resources list, the references between them, and the
#    validator's in-process self-test (broken copies of the Deployment must fail).
node validate_k8s.mjs "$repo_dir/deploy/k8s"

# 2. Broken copies on disk through the same command line: each must exit non-zero.
broken=$work_dir/broken
rm -rf "$broken" && mkdir -p "$broken"
# An unknown field in the container (indented like `image:` under it).
sed 's/^\(\( *\)image: augur:local\)$/\1\n\2imagePullPolicyy: Always/' \
  "$repo_dir/deploy/k8s/deployment.yaml" > "$broken/unknown-field.yaml"
# A wrong type: a port number as a word.
sed 's/containerPort: 8080/containerPort: eighty-eighty/' \
  "$repo_dir/deploy/k8s/deployment.yaml" > "$broken/wrong-type.yaml"
# An unknown field in an httpGet probe.
sed 's/^\( *\)path: \/healthz$/&\n\1pathh: \/healthz/' \
  "$repo_dir/deploy/k8s/deployment.yaml" > "$broken/probe-unknown-field.yaml"
# An unknown field in a Service's port.
sed 's/^\( *\)targetPort: http$/&\n\1targetport: http/' \
  "$repo_dir/deploy/k8s/service.yaml" > "$broken/service-unknown-field.yaml"
# An unknown field in the ServiceMonitor's endpoint (the operator's schema).
sed 's/^\( *\)interval: 15s$/&\n\1intervall: 15s/' \
  "$repo_dir/deploy/k8s/monitoring/servicemonitor.yaml" > "$broken/servicemonitor-unknown-field.yaml"
for f in "$broken"/*.yaml; do
  base=$(basename "$f" .yaml)
  if node validate_k8s.mjs --files "$f" 2>"$f.err"; then
    echo "FAIL: the broken copy $base.yaml passed validation" >&2
    exit 1
  fi
  echo "broken copy $base.yaml rejected: $(head -1 "$f.err")"
done

# 3. When kubectl is installed: what `kubectl apply -k` would send, with and without the
#    monitoring component, built by kustomize and validated the same way.
if command -v kubectl >/dev/null; then
  kubectl kustomize "$repo_dir/deploy/k8s" > built.yaml
  node validate_k8s.mjs --files built.yaml
  overlay=$work_dir/overlay
  rm -rf "$overlay" && mkdir -p "$overlay"
  rel=$(realpath --relative-to="$overlay" "$repo_dir/deploy/k8s")
  printf 'resources: [%s]\ncomponents: [%s/monitoring]\n' "$rel" "$rel" > "$overlay/kustomization.yaml"
  kubectl kustomize "$overlay" > built-monitoring.yaml
  grep -q '^kind: ServiceMonitor$' built-monitoring.yaml
  node validate_k8s.mjs --files built-monitoring.yaml
  echo "kubectl kustomize: default and monitoring builds valid"
else
  echo "kubectl not installed: kustomize build not checked"
fi
