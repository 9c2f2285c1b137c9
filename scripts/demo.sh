#!/usr/bin/env bash
# The main job for a newcomer: set the machine up, then run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
for policy in examples/*.yaml; do
  node dist/cli/main.js validate "$policy"
done
