#!/usr/bin/env bash
# Install everything the tests need on Debian/Ubuntu, then run lint, types and the whole suite.
# Used as is by CI (.ci/run). Run as root (or with sudo): it installs Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real binaries the integration tests drive (with CI=true a missing one fails the run).
DEB_PACKAGES=(python3 python3-venv python3-pip prometheus restic borgbackup poppler-utils faketime
  nginx-light prometheus-node-exporter prometheus-blackbox-exporter victoria-metrics systemd
  shellcheck iproute2 sqlite3 ca-certificates
  podman debootstrap docker-compose)
BINARIES=(prometheus promtool restic borg pdftotext pdftoppm pdffonts faketime nginx
  prometheus-node-exporter prometheus-blackbox-exporter victoria-metrics systemd-analyze shellcheck
  podman debootstrap docker-compose)
# podman + debootstrap: tests/deploy/test_image_build.py builds the Dockerfile for real
# (scripts/build-image.sh; its Debian base is cached in /var/cache/pantau-ci). docker-compose
# (Debian's 1.29, no engine needed) validates docker-compose.yml.

missing=0
for bin in "${BINARIES[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing=1
done
if [ "$missing" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh: Debian packages are missing; run as root (sudo) to install them" >&2
    exit 2
  fi
  echo "== installing Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${DEB_PACKAGES[@]}" >/dev/null
  # The Debian packages start their services; the tests start their own on other ports.
  for svc in prometheus prometheus-node-exporter prometheus-blackbox-exporter victoria-metrics nginx; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl stop "$svc" >/dev/null 2>&1 || true
    fi
  done
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
echo "== installing pantau and its test dependencies into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== lint-imports (the dependency rule of docs/architecture.md)"
lint-imports
echo "== pytest"
pytest -p no:cacheprovider "$@"
