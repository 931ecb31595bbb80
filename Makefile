# The two commands that matter are `make demo` (the operator's main job on the embedded default: a local
# control plane, a simulated GPU fleet, the sandbox chain) and `make test` (every test). Both install
# what they need first; installs are cached, so second runs start at once.
.PHONY: setup deps control-plane node images demo test typecheck bench clean-control-plane

setup: deps control-plane node images

# npm packages exactly as locked.
deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok and helm, built from the Go
# module proxy into ~/.cache/chrysalis/control-plane/<versions>/ (a no-op once built).
control-plane:
	bash scripts/build-control-plane.sh

# The real node: Debian packages (runc, containerd, CNI plugins, iptables, podman, buildah, mmdebstrap),
# kubelet and kube-proxy built like the control plane into ~/.cache/chrysalis/node/<versions>/, and the
# node's busybox image from Debian (all no-ops once done). It needs root, as CI has; elsewhere it says so
# and is left out (the real-node and image tests then fail, saying why).
ROOT_ONLY = if [ "$$(id -u)" != 0 ]; then echo "make $@: needs root; skipped (the real-node and image tests will fail)"; exit 0; fi;
node:
	@$(ROOT_ONLY) set -e; bash scripts/install-node-deps.sh; \
	  bash scripts/build-control-plane.sh --node >/dev/null; bash scripts/build-node-image.sh >/dev/null

# The operator and attester images, built daemonlessly (buildah) from Debian-package bases, no registry.
images: node
	@$(ROOT_ONLY) bash scripts/build-images.sh >/dev/null

demo: deps control-plane
	node cli/bin/chrysalis.js demo

test: setup
	npm test

typecheck: deps
	npm run typecheck

bench: setup
	@echo "usage: npm run bench -- <attestation|placement|settlement> [--quick]"

clean-control-plane:
	rm -rf "$${XDG_CACHE_HOME:-$$HOME/.cache}/chrysalis/control-plane"
