#!/usr/bin/env bash
# The whole test suite: ansible-lint (production profile), ansible-test
# sanity, the collection build, pytest (unit, promtool rule tests,
# integration against the real engine) and Molecule. Sets up whatever is
# missing first. Exits non-zero on any failure, including "no tests ran".
source "$(dirname "$0")/lib.sh"

bootstrap
# ansible-test's shellcheck sanity test needs the program.
command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck
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

run_stage "ansible-lint (production profile)" ansible-lint --profile production --offline
run_stage "ansible-test sanity" "$ROOT/scripts/sanity.sh"
run_stage "collection build and install" "$ROOT/scripts/build-collection.sh"
# pytest exits 5 when it collected nothing: that is a failure here too.
run_pytest() { pytest -p no:cacheprovider -q tests 2>&1 | tee "$CACHE/pytest.log"; }
run_stage "pytest (unit, rules, integration)" run_pytest
run_stage "molecule test (default scenario)" molecule test -s default

step "Summary"
printf '%s\n' "${results[@]}"
echo "pytest: $(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed|error).* =+$|no tests ran' "$CACHE/pytest.log" 2>/dev/null | tail -1)"
passed=$(( ${#results[@]} - failed ))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
