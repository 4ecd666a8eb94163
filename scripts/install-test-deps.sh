#!/usr/bin/env bash
# Installs what the test suite needs when it is missing:
#   - redis-server (Debian package, via apt-get)
#   - tansu 0.6.0, the standalone Kafka-compatible broker of the end-to-end suite (cargo install;
#     it takes 8-10 minutes to build on 2 cores, so it is skipped when already installed)
#   - kafka-python and lz4 (PyPI): the non-librdkafka client of the end-to-end suite (lz4 lets it
#     read outcry's lz4-compressed output)
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

if ! tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
    echo "==> installing tansu $TANSU_VERSION (cargo install; about 10 minutes on 2 cores)"
    cargo install tansu --version "$TANSU_VERSION" --features dynostore --locked --quiet
fi
echo "==> tansu: $(tansu --version)"

if ! python3 -c 'import kafka, lz4' 2>/dev/null; then
    echo "==> installing kafka-python and lz4 (pip)"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'kafka-python>=2.2' lz4 \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages 'kafka-python>=2.2' lz4
fi
echo "==> kafka-python: $(python3 -c 'import kafka; print(kafka.__version__)')"
