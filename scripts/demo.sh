#!/usr/bin/env bash
# The main job for a newcomer: set the machine up, then run the daemon's demo in a lab of network
# namespaces (nothing outside the lab is touched; the lab is removed at the end, also when interrupted).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

backhaul() { node dist/cli/main.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "validate the example policies"
for policy in examples/*.yaml; do
  backhaul validate "$policy"
done

# The story: the daemon keeps a lab node online while its uplinks fail (scripts/demo.ts).
npx --no-install tsx scripts/demo.ts
