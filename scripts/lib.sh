# shellcheck shell=bash
# Shared set-up steps for scripts/deploy.sh and scripts/test.sh. Every step is
# idempotent and skips work that is already done: a second run of either
# command repeats nothing that finished.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VPSMON_VENV:-$ROOT/.venv}"
CACHE="$ROOT/.cache"
export ANSIBLE_COLLECTIONS_PATH="$CACHE/collections"
export ANSIBLE_ROLES_PATH="$ROOT/roles"
export PATH="$VENV/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "This step needs root (apt-get, dockerd): re-run as root or with sudo." >&2
    exit 1
  fi
}

apt_install() {
  need_root
  if [ ! -f "$CACHE/.apt-updated" ]; then
    apt-get update -qq
    mkdir -p "$CACHE" && touch "$CACHE/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Python virtualenv from the pinned requirements; rebuilt only when they change.
ensure_venv() {
  local want stamp="$VENV/.requirements.sha256"
  want="$(sha256sum "$ROOT/requirements/requirements.txt" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "virtualenv $VENV is current"
  else
    step "virtualenv: installing the pinned toolchain"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements/requirements.txt"
    echo "$want" > "$stamp"
  fi
  # The collection is found through a link, so a checkout runs as installed.
  mkdir -p "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/vps"
  ln -sfn "$ROOT" "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/vps/monitoring"
}

# A Docker engine that answers; Debian's docker.io is installed and dockerd
# started when none does. The engine exposes its own metrics on 9323 so the
# docker-engine scrape job has something to scrape.
ensure_docker() {
  if docker info >/dev/null 2>&1; then
    echo "Docker engine answers ($(docker version -f '{{.Server.Version}}'))"
    return
  fi
  step "Docker engine: none answers, starting Debian's docker.io"
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  command -v docker >/dev/null 2>&1 || apt_install docker-cli
  need_root
  mkdir -p /var/log
  nohup dockerd --metrics-addr 0.0.0.0:9323 >/var/log/vpsmon-dockerd.log 2>&1 &
  local deadline=$((SECONDS + 60))
  until docker info >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "dockerd did not answer within 60s; last log lines:" >&2
      tail -20 /var/log/vpsmon-dockerd.log >&2
      exit 1
    fi
    sleep 1
  done
  echo "Docker engine started ($(docker version -f '{{.Server.Version}}'))"
}

# Component images: built offline from Debian packages, cached by version.
ensure_images() {
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  python3 "$ROOT/images/build.py"
}

bootstrap() {
  ensure_venv
  ensure_docker
  ensure_images
}
