#!/usr/bin/env bash
# Installs the pinned toolchain of requirements/requirements.txt with the
# ansible-core under test instead of the pinned one, and the collections
# galaxy.yml depends on from Galaxy (hosted runners reach it) in place of the
# `ansible` package bundle, which pins its own ansible-core. Then links the
# checkout as the installed vps.monitoring, as scripts/lib.sh does locally.
# Usage: .github/scripts/install-toolchain.sh <ansible-core version>
set -euo pipefail
version="$1"
requirements="${RUNNER_TEMP:-/tmp}/requirements.txt"
grep -Ev '^(ansible|ansible-core)==' requirements/requirements.txt > "$requirements"
python -m pip install --disable-pip-version-check -r "$requirements" "ansible-core==$version"
# Into site-packages: ansible-core finds collections on sys.path whatever
# ANSIBLE_COLLECTIONS_PATH says, like those of the `ansible` package.
site=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mapfile -t dependencies < <(python -c '
import yaml
for name, spec in yaml.safe_load(open("galaxy.yml"))["dependencies"].items():
    print(f"{name}:{spec}")')
ansible-galaxy collection install -p "$site" "${dependencies[@]}"
mkdir -p .cache/collections/ansible_collections/vps
ln -sfn "$PWD" .cache/collections/ansible_collections/vps/monitoring
ansible --version
