# Sourced (not run) by the scripts and tests that call podman or buildah: points them at the project's
# containers.conf (see that file for why).
CHRYSALIS_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$CHRYSALIS_SCRIPTS_DIR/containers.conf}"
