#!/usr/bin/env bash
# The whole test suite on a fresh machine: setup, then type check, lint and every test (kernel tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test
