#!/usr/bin/env bash
# Compatibility is tested, not declared: the oldest and the newest
# ansible-core that meta/runtime.yml's requires_ansible admits (the newest
# patch release of each end's minor, as the package registry lists them for
# this Python) each run the unit and rule tests and ansible-test sanity in a
# virtualenv of their own, .cache/compat/ansible-core-<version>/. A
# virtualenv is built once and rebuilt only when its version or the test
# requirements change; a version equal to the main toolchain's ansible-core
# is already tested by the main stages and is not run twice.
# Usage: scripts/compat.sh [--resolve-only]   (--resolve-only prints "<oldest> <newest>")
source "$(dirname "$0")/lib.sh"
COMPAT="$CACHE/compat"
mkdir -p "$COMPAT"

# The test requirements without the toolchain that pins its own ansible-core
# (ansible, ansible-lint, molecule need a newer one than the oldest end).
test_requirements() {
  grep -Ev '^\s*(#|$)|^(ansible|ansible-core|ansible-lint|molecule|molecule-plugins|pytest-testinfra)([=<>~\[ ]|$)' \
    "$ROOT/requirements/requirements.txt"
}

# Prints "<oldest> <newest>". Asks the registry (one request); when it does
# not answer, the last resolution for the same requires_ansible is reused.
resolve_versions() {
  local spec listed resolved memo="$COMPAT/resolved"
  spec=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["requires_ansible"])' \
    "$ROOT/meta/runtime.yml")
  if listed=$(pip index versions ansible-core --disable-pip-version-check 2>/dev/null \
      | sed -n 's/^Available versions: //p') && [ -n "$listed" ]; then
    resolved=$(python3 - "$spec" "$listed" <<'EOF'
import sys
from packaging.specifiers import SpecifierSet
from packaging.version import Version
spec = SpecifierSet(sys.argv[1])
ok = sorted(v for v in map(Version, sys.argv[2].split(", ")) if not v.is_prerelease and v in spec)
if not ok:
    sys.exit("no released ansible-core for this Python satisfies requires_ansible %s" % spec)
newest_of = lambda minor: max(v for v in ok if v.release[:2] == minor)
print(newest_of(ok[0].release[:2]), newest_of(ok[-1].release[:2]))
EOF
    ) || return 1
    printf '%s\t%s\n' "$spec" "$resolved" > "$memo"
  elif [ -f "$memo" ] && [ "$(cut -f1 "$memo")" = "$spec" ]; then
    echo "package registry unreachable: reusing the last resolution of $spec" >&2
    resolved=$(cut -f2 "$memo")
  else
    echo "cannot list ansible-core releases and no earlier resolution of $spec" >&2
    return 1
  fi
  echo "requires_ansible $spec: oldest $(cut -d' ' -f1 <<<"$resolved"), newest $(cut -d' ' -f2 <<<"$resolved")" >&2
  echo "$resolved"
}

# Builds (once) the virtualenv for one ansible-core version.
ensure_compat_venv() {
  local version="$1" venv="$COMPAT/ansible-core-$1" want stamp
  stamp="$venv/.stamp"
  want=$( { echo "ansible-core==$version"; python3 -V; test_requirements
    grep -E '^ansible==' "$ROOT/requirements/requirements.txt"; } | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "compat virtualenv $venv is current"
    return
  fi
  step "compat virtualenv: ansible-core $version"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "ansible-core==$version" \
    -r <(test_requirements)
  # The collections galaxy.yml depends on (community.docker, community.general),
  # as the pinned `ansible` bundle carries them (Galaxy is unreachable here);
  # without its dependencies, so it keeps the ansible-core under test.
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps \
    "$(grep -E '^ansible==' "$ROOT/requirements/requirements.txt")"
  echo "$want" > "$stamp"
}

# Unit and rule tests, then sanity, with one version first on PATH.
run_version() {
  local version="$1" venv="$COMPAT/ansible-core-$1" rc=0 start=$SECONDS
  ensure_compat_venv "$version"
  step "ansible-core $version: pytest tests/unit tests/rules"
  (cd "$ROOT" && PATH="$venv/bin:$PATH" pytest -p no:cacheprovider -q -rs --durations=5 tests/unit tests/rules) || rc=1
  step "ansible-core $version: ansible-test sanity"
  VPSMON_VENV="$venv" "$ROOT/scripts/sanity.sh" || rc=1
  echo "ansible-core $version: $([ $rc -eq 0 ] && echo PASS || echo FAIL) ($((SECONDS - start))s)"
  return $rc
}

# The resolver runs with the main toolchain's Python: the controller the
# test command uses, so only releases that support it are listed.
read -r oldest newest < <(resolve_versions) || exit 1
if [ "${1:-}" = "--resolve-only" ]; then echo "$oldest $newest"; exit 0; fi
# Virtualenvs of versions no longer at either end are removed.
for old in "$COMPAT"/ansible-core-*; do
  case "${old##*-}" in "$oldest" | "$newest") ;; *) [ -d "$old" ] && rm -rf "$old" ;; esac
done
main_version=$(python3 -c 'import ansible.release as r; print(r.__version__)')
failed=0
for version in $(printf '%s\n' "$oldest" "$newest" | sort -uV); do
  if [ "$version" = "$main_version" ]; then
    echo "ansible-core $version is the main toolchain's: its pytest and sanity stages test it"
    continue
  fi
  run_version "$version" || failed=1
done
exit $failed
