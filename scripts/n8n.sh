#!/usr/bin/env bash
# A pinned n8n 1.x for the tests, installed once into a cache outside the
# clone and reused while it is complete; rebuilt when missing.
#
#   scripts/n8n.sh install        install (or reuse) and print the n8n binary
#   scripts/n8n.sh bin            print the binary; exit 1 when not installed
#   scripts/n8n.sh start DIR PORT [CREDENTIALS.json]
#                                 import the credentials (n8n's export format,
#                                 plain data) and both workflows into the n8n
#                                 home DIR, activate them and run n8n on
#                                 127.0.0.1:PORT (foreground; the caller stops
#                                 it by PID)
#
# Why these pins (this machine: Node 20, npm registry only, no CDN):
# - n8n 1.113.3: its dependency tree resolves from the registry (1.95.0
#   needs a package the registry lacks) and has no isolated-vm (1.123.81's
#   does, and it does not compile against Node 20's V8 headers);
# - n8n-nodes-base pins xlsx to a CDN tarball; the override points it at the
#   registry's last published xlsx;
# - sqlite3 has no reachable prebuilt binary, so npm builds it from source
#   against the local Node headers (node-gyp, make, g++).
set -euo pipefail

N8N_VERSION="${VPSMON_N8N_VERSION:-1.113.3}"
XLSX_VERSION="0.18.5"
CACHE_ROOT="${VPSMON_N8N_CACHE:-/var/cache/vps-monitoring}"
DEST="$CACHE_ROOT/n8n-$N8N_VERSION"
BIN="$DEST/node_modules/.bin/n8n"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKFLOWS="$ROOT/roles/n8n_workflows/files/workflows"
# Bound on one uncached install (measured ~4 min here); a hung registry
# connection fails the stage instead of the whole test run.
INSTALL_TIMEOUT="${VPSMON_N8N_INSTALL_TIMEOUT:-1500}"

installed() { [ -f "$DEST/.complete" ] && [ -x "$BIN" ]; }

install() {
  if installed; then
    echo "n8n $N8N_VERSION is cached in $DEST" >&2
    echo "$BIN"
    return
  fi
  command -v npm >/dev/null 2>&1 || { echo "n8n: npm (Node.js 20-22) is needed" >&2; exit 1; }
  local work="$DEST.partial" start=$SECONDS
  rm -rf "$work" && mkdir -p "$work"
  cat > "$work/package.json" <<EOF
{"name": "vpsmon-n8n", "version": "0.0.0", "private": true,
 "dependencies": {"n8n": "$N8N_VERSION"},
 "overrides": {"xlsx": "$XLSX_VERSION"}}
EOF
  echo "n8n: installing $N8N_VERSION into $DEST (log: $work/install.log)" >&2
  if ! (cd "$work" && timeout "$INSTALL_TIMEOUT" npm install --omit=dev --no-audit --no-fund \
          --loglevel=error >install.log 2>&1); then
    echo "n8n: npm install failed or timed out after $((SECONDS - start)) s; last lines:" >&2
    tail -25 "$work/install.log" >&2
    exit 1
  fi
  "$work/node_modules/.bin/n8n" --version >/dev/null
  rm -rf "$DEST" && mv "$work" "$DEST"
  touch "$DEST/.complete"
  echo "n8n: installed in $((SECONDS - start)) s" >&2
  echo "$BIN"
}

# n8n reads its settings from the environment; the tests need no telemetry,
# no update checks and a listener on loopback only.
n8n_env() {
  export N8N_USER_FOLDER="$1"
  export N8N_LISTEN_ADDRESS=127.0.0.1 N8N_HOST=127.0.0.1
  export N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false
  export N8N_TEMPLATES_ENABLED=false N8N_PERSONALIZATION_ENABLED=false
  export N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=true N8N_SECURE_COOKIE=false
  export DB_SQLITE_POOL_SIZE="${DB_SQLITE_POOL_SIZE:-1}" N8N_RUNNERS_ENABLED="${N8N_RUNNERS_ENABLED:-false}"
  # The workflows read their settings (Telegram chat, Prometheus and Odoo
  # URLs) from the environment, which n8n 1.x allows unless blocked.
  export N8N_BLOCK_ENV_ACCESS_IN_NODE=false N8N_GIT_NODE_DISABLE_BARE_REPOS=true
  export N8N_ENCRYPTION_KEY="${N8N_ENCRYPTION_KEY:-vpsmon-test-only-key}"
}

start() {
  local dir="$1" port="$2" credentials="${3:-}"
  installed || { echo "n8n: not installed; run scripts/n8n.sh install" >&2; exit 1; }
  mkdir -p "$dir"
  n8n_env "$dir"
  export N8N_PORT="$port"
  # Credentials first: the workflows name theirs, and the import resolves
  # each name to the credential's id.
  if [ -n "$credentials" ]; then
    "$BIN" import:credentials --input="$credentials" >&2
  fi
  "$BIN" import:workflow --separate --input="$WORKFLOWS" >&2
  "$BIN" update:workflow --all --active=true >&2
  exec "$BIN" start
}

case "${1:-install}" in
  install) install ;;
  bin)
    if installed; then echo "$BIN"; else echo "n8n $N8N_VERSION is not installed in $DEST" >&2; exit 1; fi ;;
  start) shift; [ $# -ge 2 ] || { echo "usage: $0 start DIR PORT [CREDENTIALS.json]" >&2; exit 2; }; start "$@" ;;
  env) shift; n8n_env "$1"; env | grep -E '^(N8N_|DB_SQLITE)' ;;
  *) echo "usage: $0 [install|bin|start DIR PORT [CREDENTIALS.json]|env DIR]" >&2; exit 2 ;;
esac
