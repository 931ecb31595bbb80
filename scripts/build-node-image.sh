#!/usr/bin/env bash
# The real node's one small image, made from a Debian package with no registry: busybox-static unpacked by
# mmdebstrap (through the machine's own apt sources) onto an empty root. The node uses it as its Pod
# sandbox ("pause") image — `busybox sleep` holding the namespaces — and tests run commands in it.
#
# Written as an OCI archive (for `ctr images import`) to
#   ${XDG_CACHE_HOME:-~/.cache}/chrysalis/node/images/busybox-<debian version>.oci.tar
# reused when present; built into a temp file renamed into place, so a failed build leaves nothing.
# Prints the archive's path, then the image name, as its last two lines. Needs root and
# scripts/install-node-deps.sh's packages.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=podman-env.sh
source "$ROOT/scripts/podman-env.sh"
log() { printf '[node-image] %s\n' "$*" >&2; }

[[ "$(id -u)" -eq 0 ]] || { log "needs root (mmdebstrap and podman import); run as root"; exit 1; }
for tool in mmdebstrap podman apt-cache; do
  command -v "$tool" >/dev/null || { log "$tool not found: run scripts/install-node-deps.sh"; exit 1; }
done

VERSION="$(apt-cache policy busybox-static | sed -n 's/^ *Candidate: *//p')"
# One build at a time on this machine (test files run in parallel and each asks for the images).
exec 9>"/run/lock/chrysalis-build-node-image.lock"
flock 9
[[ -n "$VERSION" && "$VERSION" != "(none)" ]] || { log "busybox-static is not in the apt sources (apt-get update?)"; exit 1; }
TAG="$(echo "$VERSION" | tr -c 'A-Za-z0-9_.\n-' '_')"
IMAGE="localhost/chrysalis-node/busybox:$TAG"
DIR="${XDG_CACHE_HOME:-$HOME/.cache}/chrysalis/node/images"
ARCHIVE="$DIR/busybox-$TAG.oci.tar"

if [[ ! -f "$ARCHIVE" ]]; then
  mkdir -p "$DIR"
  WORK="$(mktemp -d "$DIR/.build-XXXXXX")"
  trap 'rm -rf "$WORK"; podman rmi --force "$IMAGE" >/dev/null 2>&1 || true' EXIT
  start=$(date +%s)
  SUITE="$(. /etc/os-release && echo "$VERSION_CODENAME")"
  SOURCES=($(ls /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true))
  log "busybox-static $VERSION from Debian $SUITE"
  mmdebstrap --quiet --variant=extract --include=busybox-static --skip=output/dev \
    --customize-hook='cd "$1" && find . -mindepth 1 -maxdepth 1 ! -name bin ! -name usr -exec rm -rf {} + && mkdir -p tmp && chmod 1777 tmp' \
    "$SUITE" "$WORK/rootfs.tar" "${SOURCES[@]}" >&2
  podman import --quiet --change 'ENTRYPOINT ["/bin/busybox"]' --change 'CMD ["sleep", "2147483647"]' \
    "$WORK/rootfs.tar" "$IMAGE" >/dev/null
  podman save --quiet --format oci-archive -o "$WORK/image.oci.tar" "$IMAGE"
  mv "$WORK/image.oci.tar" "$ARCHIVE"
  log "built in $(( $(date +%s) - start ))s"
fi
echo "$ARCHIVE"
echo "$IMAGE"
