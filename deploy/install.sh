#!/usr/bin/env bash
# Install (or upgrade) pantau as a systemd service on a Debian/Ubuntu server.
#
#   sudo deploy/install.sh                         # from this checkout (needs PyPI for dependencies)
#   sudo deploy/install.sh --wheel dist/pantau-0.1.0-py3-none-any.whl
#   sudo deploy/install.sh --wheelhouse /media/usb/wheelhouse     # offline / air-gapped server
#   deploy/install.sh --root /tmp/stage            # write everything under /tmp/stage (CI, review)
#
# What it does (each step is skipped when already done, so running it again is safe):
#   1. creates the system user and group `pantau` (home /var/lib/pantau, no login shell)
#   2. creates /opt/pantau/venv and pip-installs pantau into it (upgrading an existing install),
#      and links /usr/local/bin/pantau to it
#   3. /etc/pantau/pantau.yaml from config/pantau.example.yaml, only if absent (an admin's config
#      is never overwritten); the example itself is refreshed as /etc/pantau/pantau.example.yaml
#   4. /var/lib/pantau owned by pantau (mode 0750)
#   5. /etc/systemd/system/pantau.service (replaced on upgrade: customise with `systemctl edit`)
#   6. validates the config as user pantau (`pantau check`)
#   7. when systemd runs: daemon-reload, enable --now, and restart if it was already running
#
# With --root DIR (or DESTDIR=DIR) every file goes under DIR, nothing outside DIR is touched:
# useradd, chown and systemctl are printed instead of run. The venv created under DIR works for
# tests but is not relocatable; use --no-venv to stage files for packaging.
set -euo pipefail

readonly PREFIX=/opt/pantau
readonly VENV=$PREFIX/venv
readonly CONF_DIR=/etc/pantau
readonly DATA_DIR=/var/lib/pantau
readonly UNIT_DIR=/etc/systemd/system
readonly SERVICE_USER=pantau

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SOURCE=$(cd "$SCRIPT_DIR/.." && pwd)
ROOT=${DESTDIR:-}
WHEEL=""
WHEELHOUSE=""
PYTHON=python3
NO_VENV=0
NO_START=0

usage() {
  cat <<EOF
Usage: $(basename "$0") [OPTIONS]

Install or upgrade the pantau agent as the systemd service "pantau".

Options:
  --root DIR        install under DIR instead of /; skip useradd/chown/systemctl
                    (prints them). DESTDIR=DIR in the environment does the same.
  --source DIR      pantau checkout to install from (default: $SOURCE)
  --wheel FILE      pip-install this wheel instead of building the checkout
  --wheelhouse DIR  install offline: pip --no-index --find-links DIR (build it on a
                    connected machine with the server's Python: pip wheel . -w DIR)
  --python PATH     interpreter for the venv, Python >= 3.11 (default: python3)
  --no-venv         do not create the venv; print the pip command instead
  --no-start        install and enable, but do not (re)start the service
  -h, --help        this help
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
die() {
  printf 'install.sh: error: %s\n' "$*" >&2
  exit 2
}
# Run a command that changes the real system; in --root mode only show it.
system() {
  if [ -n "$ROOT" ]; then
    say "would run:$(printf ' %q' "$@")"
  else
    "$@"
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#*=}; shift ;;
    --source) [ $# -ge 2 ] || die "--source needs a directory"; SOURCE=$2; shift 2 ;;
    --source=*) SOURCE=${1#*=}; shift ;;
    --wheel) [ $# -ge 2 ] || die "--wheel needs a file"; WHEEL=$2; shift 2 ;;
    --wheel=*) WHEEL=${1#*=}; shift ;;
    --wheelhouse) [ $# -ge 2 ] || die "--wheelhouse needs a directory"; WHEELHOUSE=$2; shift 2 ;;
    --wheelhouse=*) WHEELHOUSE=${1#*=}; shift ;;
    --python) [ $# -ge 2 ] || die "--python needs a path"; PYTHON=$2; shift 2 ;;
    --python=*) PYTHON=${1#*=}; shift ;;
    --no-venv) NO_VENV=1; shift ;;
    --no-start) NO_START=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

# ---------------------------------------------------------------- preconditions
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT"
  ROOT=$(cd "$ROOT" && pwd)
  [ "$ROOT" != / ] || die "--root / is the real system: run without --root (as root) instead"
  say "staging under $ROOT (useradd, chown and systemctl are only printed)"
elif [ "$(id -u)" != 0 ]; then
  die "run as root (sudo $0), or give --root DIR to stage the files somewhere else"
fi

[ -d "$SOURCE" ] || die "--source $SOURCE is not a directory"
SOURCE=$(cd "$SOURCE" && pwd)
EXAMPLE=$SOURCE/config/pantau.example.yaml
UNIT=$SOURCE/deploy/pantau.service
[ -f "$EXAMPLE" ] || die "$EXAMPLE not found: --source must be a pantau checkout"
[ -f "$UNIT" ] || die "$UNIT not found: --source must be a pantau checkout"
if [ -n "$WHEEL" ]; then
  [ -f "$WHEEL" ] || die "--wheel $WHEEL: no such file"
  WHEEL=$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")
fi
if [ -n "$WHEELHOUSE" ]; then
  [ -d "$WHEELHOUSE" ] || die "--wheelhouse $WHEELHOUSE: no such directory"
  WHEELHOUSE=$(cd "$WHEELHOUSE" && pwd)
fi

python_ok() {
  command -v "$PYTHON" >/dev/null 2>&1 \
    && "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    && "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null
}
if [ "$NO_VENV" = 0 ] && ! python_ok; then
  # Debian ships python3 without the venv module (package python3-venv).
  if [ -z "$ROOT" ] && [ "$PYTHON" = python3 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing python3 and python3-venv with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  python_ok || die "$PYTHON must be Python >= 3.11 with the venv module (Debian: apt-get install python3-venv)"
fi

# ---------------------------------------------------------------- 1. user
if [ -z "$ROOT" ] && getent passwd "$SERVICE_USER" >/dev/null; then
  say "user $SERVICE_USER exists"
else
  if [ -n "$ROOT" ] || ! getent group "$SERVICE_USER" >/dev/null; then
    system groupadd --system "$SERVICE_USER"
  fi
  system useradd --system --gid "$SERVICE_USER" --home-dir "$DATA_DIR" --no-create-home \
    --shell /usr/sbin/nologin --comment "pantau monitoring agent" "$SERVICE_USER"
fi

# ---------------------------------------------------------------- 2. venv + package
PIP_ARGS=(install --disable-pip-version-check --no-input --quiet --upgrade)
if [ -n "$WHEELHOUSE" ]; then
  PIP_ARGS+=(--no-index --find-links "$WHEELHOUSE")
fi
if [ -n "$WHEEL" ]; then
  PACKAGE=$WHEEL
elif [ -n "$WHEELHOUSE" ]; then
  PACKAGE=pantau
else
  PACKAGE=$SOURCE
fi

install -d -m 0755 "$ROOT$PREFIX"
if [ "$NO_VENV" = 1 ]; then
  say "skipped (--no-venv): $PYTHON -m venv $ROOT$VENV"
  say "skipped (--no-venv): $ROOT$VENV/bin/python -m pip ${PIP_ARGS[*]} $PACKAGE"
else
  if [ -x "$ROOT$VENV/bin/python" ]; then
    say "upgrading pantau in $ROOT$VENV"
  else
    say "creating $ROOT$VENV"
    "$PYTHON" -m venv "$ROOT$VENV"
  fi
  "$ROOT$VENV/bin/python" -m pip "${PIP_ARGS[@]}" "$PACKAGE"
  say "installed $("$ROOT$VENV/bin/python" -m pip show pantau | sed -n 's/^Version: /pantau /p')"
fi

# For admins: `sudo -u pantau pantau status` without the venv path.
install -d -m 0755 "$ROOT/usr/local/bin"
ln -sfn "$VENV/bin/pantau" "$ROOT/usr/local/bin/pantau"

# ---------------------------------------------------------------- 3. config
install -d -m 0755 "$ROOT$CONF_DIR"
install -m 0644 "$EXAMPLE" "$ROOT$CONF_DIR/pantau.example.yaml"
if [ -e "$ROOT$CONF_DIR/pantau.yaml" ]; then
  say "kept existing $ROOT$CONF_DIR/pantau.yaml (compare with pantau.example.yaml after upgrades)"
else
  # 0640 root:pantau: the agent reads it, other local users cannot (it may name secret files).
  install -m 0640 "$EXAMPLE" "$ROOT$CONF_DIR/pantau.yaml"
  system chgrp "$SERVICE_USER" "$ROOT$CONF_DIR/pantau.yaml"
  say "created $ROOT$CONF_DIR/pantau.yaml from the example: edit it, then systemctl reload pantau"
fi

# ---------------------------------------------------------------- 4. data
install -d -m 0750 "$ROOT$DATA_DIR"
system chown "$SERVICE_USER:$SERVICE_USER" "$ROOT$DATA_DIR"

# ---------------------------------------------------------------- 5. unit
install -d -m 0755 "$ROOT$UNIT_DIR"
install -m 0644 "$UNIT" "$ROOT$UNIT_DIR/pantau.service"
say "installed $ROOT$UNIT_DIR/pantau.service"

# ---------------------------------------------------------------- 6. validate
# The same environment the unit gives the agent: PANTAU_DATA_DIR plus the optional secrets
# file (simple KEY=VALUE lines, as systemd's EnvironmentFile= reads them).
CHECK_ENV=("PANTAU_DATA_DIR=$ROOT$DATA_DIR")
ENV_FILE=$ROOT$CONF_DIR/pantau.env
if [ -r "$ENV_FILE" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'* | ';'*) continue ;; *=*) ;; *) continue ;; esac
    line=${line#export }
    value=${line#*=}
    case "$value" in \"*\" | \'*\') value=${value:1:${#value}-2} ;; esac
    CHECK_ENV+=("${line%%=*}=$value")
  done <"$ENV_FILE"
fi
if [ "$NO_VENV" = 1 ]; then
  say "skipped (--no-venv): pantau check -c $ROOT$CONF_DIR/pantau.yaml"
else
  CHECK=(env "${CHECK_ENV[@]}" "$ROOT$VENV/bin/pantau" check -c "$ROOT$CONF_DIR/pantau.yaml")
  if [ -z "$ROOT" ]; then
    # As the service user: also proves it can read its config.
    CHECK=(runuser -u "$SERVICE_USER" -- "${CHECK[@]}")
  fi
  if ! "${CHECK[@]}"; then
    say "the configuration is invalid (see above); the service was not (re)started."
    say "fix $CONF_DIR/pantau.yaml, then: systemctl restart pantau"
    exit 1
  fi
  say "configuration OK: $ROOT$CONF_DIR/pantau.yaml"
fi

# ---------------------------------------------------------------- 7. service
if [ -n "$ROOT" ]; then
  say "would run: systemctl daemon-reload"
  say "would run: systemctl enable --now pantau (restart if it was running)"
elif [ -d /run/systemd/system ]; then
  was_active=0
  if systemctl is-active --quiet pantau; then was_active=1; fi
  systemctl daemon-reload
  if [ "$NO_START" = 1 ]; then
    systemctl enable pantau
    say "enabled, not started (--no-start): systemctl start pantau"
  else
    systemctl enable --now pantau
    # enable --now leaves a running agent on the old code: restart it after an upgrade.
    if [ "$was_active" = 1 ]; then systemctl restart pantau; fi
    say "pantau is running: systemctl status pantau; journalctl -u pantau -f"
  fi
else
  say "systemd is not running here (PID 1 is $(cat /proc/1/comm 2>/dev/null || echo unknown))."
  say "start the agent by hand:"
  say "  runuser -u $SERVICE_USER -- env PANTAU_DATA_DIR=$DATA_DIR $VENV/bin/pantau run -c $CONF_DIR/pantau.yaml"
fi
say "done"
