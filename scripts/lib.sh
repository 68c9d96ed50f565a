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
# docker-engine scrape job has something to scrape, bound to the default
# bridge's gateway (docker0): the address host.docker.internal (host-gateway)
# resolves to in the Prometheus container, and not one the outside reaches.
DOCKER_BRIDGE_IP="${VPSMON_DOCKER_BRIDGE_IP:-172.17.0.1}"
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
  nohup dockerd --bip "$DOCKER_BRIDGE_IP/16" --metrics-addr "$DOCKER_BRIDGE_IP:9323" \
    >/var/log/vpsmon-dockerd.log 2>&1 &
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

# Component images. When the engine can pull the roles' default images
# (scripts/registry_probe.py asks it for their manifests), nothing is built
# and the stack runs the defaults: upstream Prometheus 3.x, Grafana, otelcol.
# Otherwise the images are built offline from Debian packages, cached by
# version, and the offline choices apply: the collection's own OTLP receiver
# instead of otelcol, Grafana optional. Either way the images file
# (VPSMON_IMAGES_FILE, default .cache/images.yml) holds the variables
# ansible-playbook gets (-e @.cache/images.yml), and images-path.json beside
# it records the path and why ({"path": ..., "reason": ...}; molecule/default
# chooses its instance image by it). VPSMON_IMAGES forces a path: upstream
# or offline.

# Decides the path and prints it with the reason; builds and writes nothing.
# Sets IMAGES_PATH (upstream|offline) and IMAGES_WHY.
images_path() {
  case "${VPSMON_IMAGES:-}" in
    upstream|offline)
      IMAGES_PATH="$VPSMON_IMAGES"
      IMAGES_WHY="VPSMON_IMAGES=$VPSMON_IMAGES, registry not probed" ;;
    "")
      local answer
      if answer=$(python3 "$ROOT/scripts/registry_probe.py"); then IMAGES_PATH=upstream; else IMAGES_PATH=offline; fi
      # "registry: no (<reason>): building the offline images" -> "registry: no (<reason>)"
      IMAGES_WHY="${answer%: building the offline images}"
      IMAGES_WHY="${IMAGES_WHY%: using the upstream images}" ;;
    *)
      echo "VPSMON_IMAGES is '$VPSMON_IMAGES': set it to upstream or offline, or unset it to probe the registry" >&2
      return 2 ;;
  esac
  echo "images: $IMAGES_PATH path ($IMAGES_WHY)"
}

ensure_images() {
  local out="${VPSMON_IMAGES_FILE:-$CACHE/images.yml}"
  mkdir -p "$(dirname "$out")"
  images_path || exit 1
  python3 -c 'import json, sys; print(json.dumps({"path": sys.argv[1], "reason": sys.argv[2]}))' \
    "$IMAGES_PATH" "$IMAGES_WHY" > "$(dirname "$out")/images-path.json"
  if [ "$IMAGES_PATH" = upstream ]; then
    printf -- '---\n# Written by scripts/lib.sh: a registry answers, the roles pull their defaults.\n{}\n' \
      > "$out"
    return
  fi
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  python3 "$ROOT/images/build.py" --out "$out"
  # The offline choices, only on this path: no collector or Grafana image
  # can be had, so the OTLP path runs on the collection's own receiver built
  # from the offline Python image, and Grafana is skipped with a warning.
  local base
  base=$(sed -n 's/^docker_exporter_base_image: "\(.*\)"$/\1/p' "$out")
  printf '%s\n' "# Offline choices (scripts/lib.sh): no registry answers here." \
    "stack_otel_implementation: otlp_receiver" \
    "otel_collector_receiver_base_image: \"$base\"" \
    "grafana_optional: true" >> "$out"
}

bootstrap() {
  ensure_venv
  ensure_docker
  ensure_images
}
