#!/usr/bin/env bash
# Install pantau into ./.venv and start the agent on config/pantau.example.yaml in the background.
# Stop it with: kill "$(cat "$PANTAU_DATA_DIR/pantau.pid")"
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
  || ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "quickstart: python3 (>= 3.11) with venv is needed; run as root (sudo) to install it" >&2
    exit 2
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q .

if [ "$(id -u)" = 0 ]; then
  export PANTAU_DATA_DIR=${PANTAU_DATA_DIR:-/var/lib/pantau}
else
  export PANTAU_DATA_DIR=${PANTAU_DATA_DIR:-$PWD/data}
fi
export PANTAU_LISTEN=${PANTAU_LISTEN:-127.0.0.1:9717}
mkdir -p "$PANTAU_DATA_DIR/demo-backups"
# Demo backup files for the example katalog's `files` backup sources.
[ -e "$PANTAU_DATA_DIR/demo-backups/sipd-demo.sql.gz" ] || echo "demo" | gzip > "$PANTAU_DATA_DIR/demo-backups/sipd-demo.sql.gz"
[ -e "$PANTAU_DATA_DIR/demo-backups/lapor-demo.tar.gz" ] || echo "demo" | gzip > "$PANTAU_DATA_DIR/demo-backups/lapor-demo.tar.gz"

.venv/bin/pantau check -c config/pantau.example.yaml

pidfile="$PANTAU_DATA_DIR/pantau.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "quickstart: pantau already running (pid $(cat "$pidfile")); restarting it"
  kill "$(cat "$pidfile")" && sleep 2
fi
nohup .venv/bin/pantau run -c config/pantau.example.yaml >"$PANTAU_DATA_DIR/pantau.log" 2>&1 &
echo $! >"$pidfile"

for _ in $(seq 1 50); do
  if .venv/bin/python - "$PANTAU_LISTEN" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://{sys.argv[1]}/healthz", timeout=1).read()
PY
    echo "pantau is running (pid $(cat "$pidfile")): http://$PANTAU_LISTEN/metrics"
    echo "  status:  PANTAU_DATA_DIR=$PANTAU_DATA_DIR .venv/bin/pantau status -c config/pantau.example.yaml"
    echo "  logs:    $PANTAU_DATA_DIR/pantau.log"
    echo "  stop:    kill \$(cat $pidfile)"
    exit 0
  fi
  sleep 0.2
done
echo "quickstart: pantau did not answer on http://$PANTAU_LISTEN/healthz; see $PANTAU_DATA_DIR/pantau.log" >&2
tail -20 "$PANTAU_DATA_DIR/pantau.log" >&2 || true
exit 1
