#!/usr/bin/env bash
# The whole test suite: ansible-lint (production profile), ansible-test
# sanity, the collection build, pytest (unit, promtool rule tests,
# integration against the real engine) and Molecule. Sets up whatever is
# missing first. Exits non-zero on any failure, including "no tests ran".
source "$(dirname "$0")/lib.sh"

# Checks that cannot run here append "skip: <check>: <reason>" lines to
# $CACHE/skips.txt (docs/DEVELOPING.md); the summary prints them with
# pytest's skips, so no skip is silent.
mkdir -p "$CACHE" && : > "$CACHE/skips.txt"
bootstrap
# ansible-test's shellcheck sanity test needs the program.
command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck
# The proxy's ACME path is tested against Debian's Pebble, a real ACME
# server (tests/integration/test_front_door_acme.py).
command -v pebble >/dev/null 2>&1 || apt_install pebble
cd "$ROOT" || exit 1
declare -a results=()
failed=0
run_stage() {
  local name="$1"; shift
  step "$name"
  local start=$SECONDS
  if "$@"; then
    results+=("PASS  $name ($((SECONDS - start))s)")
  else
    results+=("FAIL  $name ($((SECONDS - start))s)")
    failed=$((failed + 1))
  fi
}

# Molecule's prerun installs this collection into ~/.ansible/collections,
# where ansible-lint finds it before the checkout: a copy left by an earlier
# run would hide modules added since (unknown-module). Only that copy goes.
stale_copy="${HOME}/.ansible/collections/ansible_collections/vps/monitoring"
[ -L "$stale_copy" ] || rm -rf "$stale_copy"
run_stage "ansible-lint (production profile)" ansible-lint --profile production --offline
run_stage "ansible-test sanity" "$ROOT/scripts/sanity.sh"
run_stage "actionlint (.github/workflows)" "$ROOT/scripts/actionlint.sh"
run_compat() { "$ROOT/scripts/compat.sh" 2>&1 | tee "$CACHE/compat.log"; }
run_stage "oldest and newest declared ansible-core (unit, rules, sanity)" run_compat
run_stage "collection build and install" "$ROOT/scripts/build-collection.sh"
# The pinned n8n that tests/integration/test_n8n_*.py drive, installed once
# into a cache outside the clone (well under a second when cached).
run_stage "n8n (pinned 1.x, cached install)" "$ROOT/scripts/n8n.sh" install
# The vps scenario plays a separate host with an engine of its own (Docker in
# Docker) and names nothing the other stages use, so it runs beside pytest
# and the default scenario; its output is shown when it is collected. Its
# create step starts the registry mirror (tests/support/registry.py).
vps_log="$CACHE/molecule-vps.log"
( set +e; molecule test -s vps >"$vps_log" 2>&1; echo $? >"$vps_log.rc" ) &
vps_pid=$!
# pytest exits 5 when it collected nothing: that is a failure here too.
run_pytest() { pytest -p no:cacheprovider -q -rs --durations=15 tests 2>&1 | tee "$CACHE/pytest.log"; }
run_stage "pytest (unit, rules, integration)" run_pytest
run_stage "molecule test (default scenario)" molecule test -s default
collect_vps() {
  wait "$vps_pid" || true
  tail -n 60 "$vps_log"
  return "$(cat "$vps_log.rc" 2>/dev/null || echo 1)"
}
run_stage "molecule test (vps scenario: SSH, tarball, registry)" collect_vps

step "Summary"
printf '%s\n' "${results[@]}"
echo "pytest: $(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed|error).* =+$|no tests ran' "$CACHE/pytest.log" 2>/dev/null | tail -1)"
step "Skipped checks"
{ grep -h '^SKIPPED' "$CACHE/pytest.log" "$CACHE/compat.log" 2>/dev/null || true
  cat "$CACHE/skips.txt"; } | sort -u | sed 's/^/  /' | grep . || echo "  none"
passed=$(( ${#results[@]} - failed ))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
