#!/usr/bin/env bash
# Sets up a fresh Debian-like machine for backhaul: the kernel tools it drives, the npm packages, the build.
# Idempotent: installs only what is missing. Needs root (apt-get, and later network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "backhaul setup: run as root (it installs Debian packages and creates network namespaces)" >&2
  exit 1
fi

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v hostapd >/dev/null || need+=(hostapd)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
command -v udhcpc >/dev/null || need+=(udhcpc)
command -v conntrack >/dev/null || need+=(conntrack)
command -v ping >/dev/null || need+=(iputils-ping)
command -v sysctl >/dev/null || need+=(procps)
# systemd-notify (the daemon's sd_notify) and systemd-socket-activate (its test); absent from slim images.
command -v systemd-notify >/dev/null && command -v systemd-socket-activate >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  echo "backhaul setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent build
