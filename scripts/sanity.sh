#!/usr/bin/env bash
# ansible-test sanity needs the collection under ansible_collections/<ns>/<name>
# and outside any other git work tree: run it on a copy of the tracked and
# new files (not .venv or caches), made a git repository of its own.
# VPSMON_VENV picks the ansible-core under test (scripts/compat.sh): each
# virtualenv gets its own copy and runs with its own Python.
source "$(dirname "$0")/lib.sh"
dest="${TMPDIR:-/tmp}/vpsmon-sanity-$(basename "$VENV")/ansible_collections/vps/monitoring"
rm -rf "$dest" && mkdir -p "$dest"
cd "$ROOT" || exit 1
# Files deleted in the work tree but still in the index are left out.
git ls-files -co --exclude-standard -z \
  | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
  | xargs -0 cp --parents -t "$dest"
cd "$dest" || exit 1
git init -q && git add -A
# ansible-test downloads get-pip.py from a host outside the package
# registries; give it a local stand-in for the pip version it pins.
pip_version=$(python3 -c 'import ansible_test._internal.python_requirements as r, inspect, re; print(re.search(r"pip=.([0-9.]+).", inspect.getsource(r)).group(1))')
mkdir -p ~/.ansible/test/cache
cp "$ROOT/scripts/ansible-test-get-pip.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
ansible-test sanity --python "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" --color no --requirements "$@"
