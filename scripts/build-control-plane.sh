#!/usr/bin/env bash
# Builds the local control plane from the Go module proxy with the machine's Go toolchain:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (Kubernetes), etcd, kwok and helm.
#
# Binaries land in a directory named after every version involved, under the user's cache dir:
#   ${XDG_CACHE_HOME:-~/.cache}/chrysalis/control-plane/<versions>/bin
# A second run finds that directory and does nothing. Everything is built into a temp dir that is
# renamed into place only when every binary built, so a failed or interrupted build leaves no
# half-written cache. Prints the bin directory as its last line.
#
# With --node it builds the real node's kubelet and kube-proxy instead, the same way (same wrapper module
# and version stamping), into ${XDG_CACHE_HOME:-~/.cache}/chrysalis/node/<versions>/bin.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"

log() { printf '[control-plane] %s\n' "$*" >&2; }

command -v go >/dev/null || { log "Go is required (https://go.dev/dl); none found on PATH"; exit 1; }
GO_VERSION="$(go env GOVERSION)"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/chrysalis/control-plane"
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_${GO_VERSION}"
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
BINARIES=("${K8S_COMMANDS[@]}" etcd kwok helm)
NODE=false
if [[ "${1:-}" == "--node" ]]; then
  NODE=true
  CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/chrysalis/node"
  KEY="k8s-${K8S_VERSION}_${GO_VERSION}"
  K8S_COMMANDS=(kubelet kube-proxy)
  BINARIES=("${K8S_COMMANDS[@]}")
elif [[ $# -gt 0 ]]; then
  log "unknown argument $1 (usage: build-control-plane.sh [--node])"; exit 2
fi
DEST="$CACHE_ROOT/$KEY"

if [[ -f "$DEST/.complete" ]]; then
  log "cached: $DEST/bin"
  echo "$DEST/bin"
  exit 0
fi

mkdir -p "$CACHE_ROOT"
WORK="$(mktemp -d "$CACHE_ROOT/.build-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"

export GOWORK=off GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# ---- Kubernetes: an outside wrapper module that pins every staging module. ----
build_kubernetes() {
  local minor major
  major="$(echo "${K8S_VERSION#v}" | cut -d. -f1)"
  minor="$(echo "${K8S_VERSION#v}" | cut -d. -f2)"
  local staging_version="v0.${minor}.$(echo "${K8S_VERSION#v}" | cut -d. -f3)"
  local mod="$WORK/k8s-wrapper"
  mkdir -p "$mod"
  log "kubernetes $K8S_VERSION: reading its go.mod for staging modules"
  local upstream_mod
  upstream_mod="$(cd "$mod" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  local godebug
  godebug="$(grep -E '^godebug ' "$upstream_mod" || true)"
  {
    echo "module chrysalis.local/k8s-wrapper"
    echo
    echo "go $(go env GOVERSION | sed 's/^go//' | cut -d. -f1,2)"
    [[ -n "$godebug" ]] && echo "$godebug"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    # Kubernetes requires its staging modules at v0.0.0 and replaces them with local paths that do not
    # exist outside its repository; pin each to the published release of the same minor.
    grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$upstream_mod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } > "$mod/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "${K8S_COMMANDS[@]}"
    printf ')\n'
  } > "$mod/tools.go"
  log "kubernetes: resolving modules (go get)"
  (cd "$mod" && go get "k8s.io/kubernetes@${K8S_VERSION}" >&2 && go get -tags tools ./... >&2)
  local date; date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${date} -X ${pkg}.gitCommit=chrysalis-module-build"
  done
  for cmd in "${K8S_COMMANDS[@]}"; do
    log "kubernetes: building $cmd"
    (cd "$mod" && go build -trimpath -ldflags "-s -w $ldflags" -o "$WORK/bin/$cmd" "k8s.io/kubernetes/cmd/$cmd")
  done
}

# ---- etcd: server/v3 carries replace directives too, so it gets a wrapper of its own. ----
build_etcd() {
  local mod="$WORK/etcd-wrapper"
  mkdir -p "$mod"
  printf 'module chrysalis.local/etcd-wrapper\n\ngo %s\n' "$(go env GOVERSION | sed 's/^go//' | cut -d. -f1,2)" > "$mod/go.mod"
  cat > "$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  log "etcd $ETCD_VERSION: resolving modules"
  (cd "$mod" && go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" "go.etcd.io/etcd/api/v3@${ETCD_VERSION}" \
      "go.etcd.io/etcd/client/v3@${ETCD_VERSION}" "go.etcd.io/etcd/client/pkg/v3@${ETCD_VERSION}" \
      "go.etcd.io/etcd/pkg/v3@${ETCD_VERSION}" >&2)
  log "etcd: building"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$WORK/bin/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  log "kwok $KWOK_VERSION: building"
  GOBIN="$WORK/bin" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
  # kwok >= 0.8 has no built-in stages: keep the ones its module ships beside the binary.
  local src; src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@${KWOK_VERSION}/kustomize/stage"
  mkdir -p "$WORK/kwok-stages"
  cp "$src/node/fast/node-initialize.yaml" "$src/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
     "$src/pod/fast/pod-ready.yaml" "$src/pod/fast/pod-complete.yaml" "$src/pod/fast/pod-delete.yaml" \
     "$WORK/kwok-stages/"
}

build_helm() {
  local minor; minor="$(echo "${K8S_VERSION#v}" | cut -d. -f2)"
  log "helm $HELM_VERSION: building"
  GOBIN="$WORK/bin" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${minor}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
}

start=$(date +%s)
if ! $NODE; then
  build_kwok
  build_helm
  build_etcd
fi
build_kubernetes
for b in "${BINARIES[@]}"; do
  [[ -x "$WORK/bin/$b" ]] || { log "missing $b after build"; exit 1; }
done
touch "$WORK/.complete"
rm -rf "$WORK/k8s-wrapper" "$WORK/etcd-wrapper"
rm -rf "$DEST"
mv "$WORK" "$DEST"
trap - EXIT
log "built in $(( $(date +%s) - start ))s: $DEST/bin"
echo "$DEST/bin"
