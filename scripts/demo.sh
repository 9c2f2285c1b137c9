#!/usr/bin/env bash
# The main job for a newcomer: set the machine up, then run the demo in a lab of network namespaces
# (nothing outside the lab is touched, and the lab is removed at the end, also when interrupted).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

backhaul() { node dist/cli/main.js "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "validate the example policies"
for policy in examples/*.yaml; do
  backhaul validate "$policy"
done

step "bring up the demo lab: a node with eth0 (fibre), wwan0 (LTE), usb0 (phone tether) and a hotspot client"
lab=$(backhaul lab up --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
trap 'backhaul lab down "$lab" >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM
node="$lab-node"

step "what backhaul sees on the node"
backhaul show --netns "$node"

step "the plan for the demo policy, with every uplink assumed healthy"
backhaul plan examples/lab-demo.yaml --netns "$node" --assume-health up --explain

step "apply it: one batched transaction, verified against the kernel"
backhaul apply examples/lab-demo.yaml --netns "$node" --assume-health up --auto-approve
ip netns exec "$node" ip route get 198.51.100.10

step "apply again: nothing to do, nothing written"
backhaul apply examples/lab-demo.yaml --netns "$node" --assume-health up --auto-approve

step "fibre goes down: the plan moves general traffic to LTE with one route replace"
backhaul plan examples/lab-demo.yaml --netns "$node" --assume-health up,down:fibre
backhaul apply examples/lab-demo.yaml --netns "$node" --assume-health up,down:fibre --auto-approve
ip netns exec "$node" ip route get 198.51.100.10

step "tear the lab down"
backhaul lab down "$lab"
trap - EXIT
