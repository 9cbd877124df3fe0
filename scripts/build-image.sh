#!/usr/bin/env bash
# Build the real Dockerfile with podman on a local Debian base: no Docker engine, no Docker Hub.
#
#   sudo scripts/build-image.sh [TAG]          # default TAG: localhost/pantau:ci
#
# CI (tests/deploy/test_image_build.py) and machines that reach only PyPI and Debian use it.
# Users with Docker Hub keep `docker build .` on the default base (python:3.12-slim-bookworm).
#
# The base (the Dockerfile's PYTHON_IMAGE) is Debian 12 made by debootstrap with python3,
# python3-venv and ca-certificates. It is cached as a tarball in $PANTAU_CI_CACHE (default
# /var/cache/pantau-ci) and as an image in podman's store, so only the first run downloads it.
# Podman keeps the build's layers too: a rebuild of unchanged sources takes seconds.
#
# Why the options (measured on a CI VM without cgroups):
#   --isolation chroot   RUN steps in a chroot: the OCI runtime (crun) cannot create containers
#                        there ("cgroups in hybrid mode not supported").
#   --format docker      keeps HEALTHCHECK, which the OCI image format drops.
#   --pull=never         the base is local; nothing is fetched from an image registry.
#   --volume CA bundle   pip in RUN steps trusts what the host trusts (a TLS-inspecting proxy);
#                        mounted for the build only, never stored in the image.
# REVISION and CREATED come from the commit (not the clock), so an unchanged checkout reuses
# every cached layer. Environment: PANTAU_CI_CACHE, PANTAU_DEBIAN_MIRROR (default: debootstrap's), CA_BUNDLE.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${1:-localhost/pantau:ci}
CACHE=${PANTAU_CI_CACHE:-/var/cache/pantau-ci}
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,ca-certificates
CA_BUNDLE=${CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}

die() {
  echo "build-image.sh: $*" >&2
  exit 2
}

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and podman's image store need it)"
for tool in podman debootstrap tar sha256sum flock; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (Debian: apt-get install podman debootstrap)"
done
[ -f "$CA_BUNDLE" ] || die "CA bundle $CA_BUNDLE not found (set CA_BUNDLE)"

# The recipe names the base, so changing the suite or the package list makes a new one.
RECIPE=$(printf '%s %s\n' "$SUITE" "$BASE_PACKAGES" | sha256sum | cut -c1-12)
BASE_IMAGE=localhost/pantau-ci-base:$SUITE-$RECIPE
BASE_TAR=$CACHE/base-$SUITE-$RECIPE.tar

mkdir -p "$CACHE"
# One debootstrap at a time, even when two checkouts run their CI at once.
exec 9>"$CACHE/lock"
flock 9

if ! podman image exists "$BASE_IMAGE"; then
  if [ ! -s "$BASE_TAR" ]; then
    echo "== debootstrap $SUITE with $BASE_PACKAGES (first run only; cached in $CACHE)"
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    mirror=()
    [ -n "${PANTAU_DEBIAN_MIRROR:-}" ] && mirror=("$PANTAU_DEBIAN_MIRROR")
    if ! debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" \
      "${mirror[@]}" >"$CACHE/debootstrap.log" 2>&1; then
      tail -n 30 "$CACHE/debootstrap.log" >&2
      die "debootstrap failed (full log: $CACHE/debootstrap.log)"
    fi
    # What a slim image leaves out too: downloaded .debs and package lists (~90 MB).
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
      "$rootfs"/var/lib/apt/lists/*
    tar --numeric-owner -C "$rootfs" -cf "$BASE_TAR.tmp" .
    mv "$BASE_TAR.tmp" "$BASE_TAR"
    rm -rf "$rootfs"
    trap - EXIT
  fi
  echo "== importing $BASE_TAR as $BASE_IMAGE"
  # The same PATH and LANG as the python:*-slim images, so the Dockerfile sees one environment.
  podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi
flock -u 9

echo "== podman build -t $TAG (PYTHON_IMAGE=$BASE_IMAGE)"
podman build \
  --isolation chroot \
  --format docker \
  --pull=never \
  --volume "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
  --build-arg "PYTHON_IMAGE=$BASE_IMAGE" \
  --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --build-arg "CREATED=$(git log -1 --format=%cI 2>/dev/null || echo unknown)" \
  --tag "$TAG" \
  .
# Keep a day of layers for reruns; drop older untagged ones so CI runs do not fill the disk.
podman image prune --force --filter until=24h >/dev/null
echo "== built $TAG: $(podman image inspect --format '{{.Size}}' "$TAG") bytes"
