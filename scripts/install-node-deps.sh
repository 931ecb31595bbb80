#!/usr/bin/env bash
# Installs, from the machine's Debian packages, what the real node and the local image builds need:
# runc + containerd (the node's container runtime), the CNI plugins (the node's Pod network), iptables and
# conntrack (kube-proxy), podman + buildah (daemonless image builds, and the Docker-compatible socket
# testcontainers talks to) and mmdebstrap (the base image's root filesystem, made from Debian packages
# because no container registry is reachable).
#
# Idempotent: when every package is already installed it only asks dpkg and exits (well under a second).
# Needs root (or sudo) only when something is missing. Prints nothing on stdout.
set -euo pipefail

PACKAGES=(
  runc containerd containernetworking-plugins
  iptables conntrack ethtool
  podman buildah
  mmdebstrap
)

log() { printf '[node-deps] %s\n' "$*" >&2; }

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
  [[ "$status" == ii* ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "installed: ${PACKAGES[*]}"
  exit 0
fi

command -v apt-get >/dev/null || { log "missing ${missing[*]} and no apt-get: install them with the system's package manager"; exit 1; }
SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null || { log "missing ${missing[*]}: run this script as root (or install sudo)"; exit 1; }
  SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
install() { "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
start=$(date +%s)
log "installing ${missing[*]}"
# A fresh machine may have stale or no package lists: refresh them once if the first try fails.
if ! install; then
  log "refreshing package lists"
  "${SUDO[@]}" apt-get update -q >&2
  install
fi
log "installed in $(( $(date +%s) - start ))s"
