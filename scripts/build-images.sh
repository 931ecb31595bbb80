#!/usr/bin/env bash
# Builds the operator, attester and engine-cpu images on this machine with no registry and no daemon (buildah):
#
# 1. Two base images made from Debian packages with mmdebstrap (through the machine's own apt sources),
#    each with the Node.js of the machine's installed `nodejs` package — the same layout as the published
#    Dockerfiles' bases:
#      localhost/chrysalis-base/node-build:<key>    minbase Debian + node + npm (a shell, for RUN)
#      localhost/chrysalis-base/node-runtime:<key>  libc/libstdc++ only + /nodejs/bin/node, no shell
#    <key> hashes this script, the Debian sources and the Node.js version; a base with that tag is reused.
# 2. images/operator/Dockerfile, images/attester/Dockerfile and images/engine-cpu/Dockerfile, unchanged,
#    with BUILD_BASE and RUNTIME_BASE pointing at those bases (buildah bud --layers: the shared build stage is built once and
#    an unchanged tree rebuilds from cache), tagged localhost/chrysalis-dev/chrysalis-<name>:<version>.
# 3. With --oci-dir DIR: each image also saved as DIR/<name>.oci.tar (an OCI archive for `ctr import`).
#
# Needs root (mmdebstrap, buildah) and scripts/install-node-deps.sh's packages. Prints the image names.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=podman-env.sh
source "$ROOT/scripts/podman-env.sh"
log() { printf '[images] %s\n' "$*" >&2; }

OCI_DIR=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --oci-dir) OCI_DIR="$2"; shift 2 ;;
    *) log "unknown argument $1 (usage: build-images.sh [--oci-dir DIR])"; exit 2 ;;
  esac
done
[[ "$(id -u)" -eq 0 ]] || { log "building images needs root (mmdebstrap and buildah write root-owned layers); run as root"; exit 1; }
# One build at a time on this machine (test files run in parallel and each asks for the images).
exec 9>"/run/lock/chrysalis-build-images.lock"
flock 9
for tool in mmdebstrap buildah podman node; do
  command -v "$tool" >/dev/null || { log "$tool not found: run scripts/install-node-deps.sh"; exit 1; }
done

NODE_BIN="$(readlink -f "$(command -v node)")"
NODE_VERSION="$("$NODE_BIN" --version)"
NPM_DIR="$(dirname "$NODE_BIN")/../lib/node_modules/npm"
[[ -f "$NPM_DIR/bin/npm-cli.js" ]] || { log "npm not found beside $NODE_BIN (looked in $NPM_DIR)"; exit 1; }
SOURCES=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
SOURCES=($(ls "${SOURCES[@]}" 2>/dev/null || true))
[[ ${#SOURCES[@]} -gt 0 ]] || { log "no apt sources under /etc/apt: mmdebstrap has nowhere to fetch Debian packages from"; exit 1; }
SUITE="$(. /etc/os-release && echo "$VERSION_CODENAME")"
KEY="$( { cat "${BASH_SOURCE[0]}" "${SOURCES[@]}"; echo "$SUITE $NODE_VERSION"; } | sha256sum | cut -c1-12)"
BUILD_BASE="localhost/chrysalis-base/node-build:$KEY"
RUNTIME_BASE="localhost/chrysalis-base/node-runtime:$KEY"
VERSION="$(node -p 'require(process.argv[1]).version' "$ROOT/package.json")"
HOST_CA_BUNDLE="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
BUILD_CA_PATH=/etc/chrysalis-build/ca-certificates.crt

WORK="$(mktemp -d /tmp/chrysalis-images-XXXXXX)"
cleanup() {
  [[ -n "${CTR:-}" ]] && buildah rm "$CTR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Debian packages → root filesystem tarball. The apt sources the machine uses are the mirror; /dev is
# left out (the runtime provides it).
debian_rootfs() { # variant out.tar packages...
  local variant="$1" out="$2"; shift 2
  local include; include="$(IFS=,; echo "$*")"
  mmdebstrap --quiet --variant="$variant" ${include:+--include="$include"} --skip=output/dev \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    "$SUITE" "$out" "${SOURCES[@]}" >&2
}

# rootfs tarball + Node.js → image committed under $1; every other argument is a `buildah config` flag.
commit_base() { # image rootfs.tar node-dir-in-image with-npm config...
  local image="$1" rootfs="$2" node_dir="$3" with_npm="$4"; shift 4
  CTR="$(buildah from scratch)"
  buildah add --quiet "$CTR" "$rootfs" / >/dev/null
  buildah copy --quiet "$CTR" "$NODE_BIN" "$node_dir/node" >/dev/null
  if [[ "$with_npm" == yes ]]; then
    buildah copy --quiet "$CTR" "$NPM_DIR" /usr/local/lib/node_modules/npm >/dev/null
    buildah run --isolation chroot "$CTR" -- /bin/sh -ec \
      'ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm; ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx' >&2
  fi
  buildah config "$@" --label "org.opencontainers.image.description=Debian $SUITE packages + Node.js $NODE_VERSION, built by scripts/build-images.sh" "$CTR"
  buildah commit --quiet --rm "$CTR" "$image" >/dev/null
  CTR=""
}

start=$(date +%s)
if ! podman image exists "$BUILD_BASE"; then
  log "base $BUILD_BASE: Debian $SUITE minbase + Node.js $NODE_VERSION and npm"
  debian_rootfs minbase "$WORK/build.tar"
  commit_base "$BUILD_BASE" "$WORK/build.tar" /usr/local/bin yes --env PATH=/usr/local/bin:/usr/bin:/bin \
    --env NODE_EXTRA_CA_CERTS="$BUILD_CA_PATH" --cmd node
fi
if ! podman image exists "$RUNTIME_BASE"; then
  log "base $RUNTIME_BASE: Debian $SUITE libc6 + libstdc++6 (unpacked, no shell) + Node.js $NODE_VERSION"
  debian_rootfs extract "$WORK/runtime.tar" libc6 libgcc-s1 libstdc++6
  # The users distroless's nonroot image has; numeric USER in the Dockerfile does not need them, but
  # tools that print a user name do.
  mkdir -p "$WORK/etc-overlay/etc" "$WORK/etc-overlay/tmp" "$WORK/etc-overlay/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$WORK/etc-overlay/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$WORK/etc-overlay/etc/group"
  chmod 1777 "$WORK/etc-overlay/tmp"
  chown 65532:65532 "$WORK/etc-overlay/home/nonroot"
  tar -C "$WORK/etc-overlay" -rf "$WORK/runtime.tar" ./etc/passwd ./etc/group ./tmp ./home/nonroot
  commit_base "$RUNTIME_BASE" "$WORK/runtime.tar" /nodejs/bin no --user 65532:65532 --workingdir /home/nonroot --entrypoint '["/nodejs/bin/node"]'
fi
log "bases ready ($(( $(date +%s) - start ))s)"

# npm's cache on this machine is lent to the build stage so `npm ci` fetches only what it lacks, and the
# machine's CA bundle, so npm trusts what this machine trusts on its way to the registry (a proxy's CA).
NPM_CACHE="$(npm config get cache)"
mkdir -p "$NPM_CACHE"
CA_VOLUME=()
[[ -f "$HOST_CA_BUNDLE" ]] && CA_VOLUME=(--volume "$HOST_CA_BUNDLE:$BUILD_CA_PATH:ro")
images=()
for name in operator attester engine-cpu; do
  image="localhost/chrysalis-dev/chrysalis-$name:$VERSION"
  log "building $image"
  buildah bud --isolation chroot --network host --layers \
    --build-arg "BUILD_BASE=$BUILD_BASE" --build-arg "RUNTIME_BASE=$RUNTIME_BASE" \
    --volume "$NPM_CACHE:/root/.npm" "${CA_VOLUME[@]}" \
    -f "$ROOT/images/$name/Dockerfile" -t "$image" "$ROOT" >&2
  if [[ -n "$OCI_DIR" ]]; then
    mkdir -p "$OCI_DIR"
    rm -f "$OCI_DIR/$name.oci.tar"
    podman save --quiet --format oci-archive -o "$OCI_DIR/$name.oci.tar.partial" "$image"
    mv "$OCI_DIR/$name.oci.tar.partial" "$OCI_DIR/$name.oci.tar"
  fi
  images+=("$image")
done
log "built in $(( $(date +%s) - start ))s"
printf '%s\n' "${images[@]}"
