#!/usr/bin/env bash
# Deploys the whole stack on this machine (localhost) and prints where each
# component answers and whether it is healthy. Safe to run again: finished
# set-up is skipped and a second converge changes nothing.
# Extra arguments go to ansible-playbook (e.g. --check --diff, --tags prometheus).
source "$(dirname "$0")/lib.sh"

bootstrap
step "Deploying playbooks/site.yml on localhost"
cd "$ROOT" || exit 1
ansible-playbook -i inventory/localhost.yml playbooks/site.yml \
  -e @"$CACHE/images.yml" "$@"
