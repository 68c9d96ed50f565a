#!/usr/bin/env bash
# Builds the Galaxy tarball, installs it into a scratch collections path and
# checks that ansible-doc renders every module and plugin from that copy.
source "$(dirname "$0")/lib.sh"
out="$CACHE/build"
rm -rf "$out" && mkdir -p "$out/collections"
cd "$ROOT" || exit 1
ansible-galaxy collection build --force --output-path "$out" .
tarball=$(ls "$out"/vps-monitoring-*.tar.gz)
# Only the installed copy is visible from here on.
export ANSIBLE_COLLECTIONS_PATH="$out/collections"
ansible-galaxy collection install --offline --no-deps --force -p "$out/collections" "$tarball"
status=0
checked=0
for dir in modules filter test lookup; do
  kind=${dir%s}
  for f in "plugins/$dir"/*.py; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .py)
    # A filter or test file may hold several plugins; each has a .yml doc
    # named after it when it is not the module's own.
    docs=("$name")
    if [ "$dir" != modules ]; then
      mapfile -t docs < <(find "plugins/$dir" -maxdepth 1 -name '*.yml' -printf '%f\n' | sed 's/\.yml$//')
    fi
    for n in "${docs[@]}"; do
      if ! output=$(ansible-doc -t "$kind" "vps.monitoring.$n" 2>&1) ||
         grep -qE 'was not found|Error loading|ERROR' <<<"$output"; then
        echo "ansible-doc cannot render $kind vps.monitoring.$n:"; echo "$output" | tail -5
        status=1
      fi
      checked=$((checked + 1))
    done
    [ "$dir" != modules ] && break
  done
done
echo "built and installed $(basename "$tarball"); ansible-doc rendered $checked plugin docs; failures: $status"
exit $status
