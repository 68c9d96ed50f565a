#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge environment variables into Claude Code's settings.json."""

from __future__ import annotations

DOCUMENTATION = r"""
module: claude_code_settings
short_description: Merge environment variables into Claude Code's settings.json
description:
  - Sets (or removes) keys of the C(env) object in a Claude Code settings file such as
    C(~/.claude/settings.json), leaving every other key of the file and of C(env) as it was.
  - Compares parsed JSON, so formatting alone never counts as a change; writes atomically
    only when a value differs.
  - Supports check mode and C(--diff). Values of O(secret_env) (for example
    C(OTEL_EXPORTER_OTLP_HEADERS) carrying a bearer token) are compared for real but shown as
    C(********) in the diff and never returned.
version_added: "0.1.0"
author: vps.monitoring maintainers (@vps-monitoring)
options:
  path:
    description: Settings file. Created (with its directory) when missing.
    type: path
    required: true
  env:
    description:
      - Variables to set in C(env) (O(state=present)) or whose names to remove (O(state=absent)).
      - Values are converted to strings, as Claude Code reads them as environment variables.
    type: dict
    default: {}
  secret_env:
    description: Like O(env), for values that must never be shown (diff, output, logs).
    type: dict
    default: {}
  state:
    description: C(present) sets the variables; C(absent) removes the named ones.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description: File mode when the file is created (it may hold a token, hence private).
    type: raw
    default: "0600"
  backup:
    description: Keep a timestamped copy of the previous file when it changes.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports the keys that would change, writes nothing.
  diff_mode:
    support: full
    description: Before and after are the settings file, with O(secret_env) values masked.
notes:
  - A file that is not a JSON object is left untouched and the module fails, naming the file.
"""

EXAMPLES = r"""
- name: Send Claude Code telemetry to the monitoring VPS
  vps.monitoring.claude_code_settings:
    path: "~/.claude/settings.json"
    env:
      CLAUDE_CODE_ENABLE_TELEMETRY: "1"
      OTEL_METRICS_EXPORTER: otlp
      OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf
      OTEL_EXPORTER_OTLP_ENDPOINT: http://127.0.0.1:4318
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: cumulative
    secret_env:
      OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Bearer {{ otlp_token }}"

- name: Switch telemetry off again
  vps.monitoring.claude_code_settings:
    path: "~/.claude/settings.json"
    env:
      CLAUDE_CODE_ENABLE_TELEMETRY: ""
    state: absent
"""

RETURN = r"""
path:
  description: The settings file.
  returned: always
  type: str
changed_keys:
  description: Names of the C(env) keys that were (or, in check mode, would be) set or removed.
  returned: always
  type: list
  elements: str
  sample: [OTEL_EXPORTER_OTLP_ENDPOINT]
backup_file:
  description: The backup copy, when O(backup=true) and the file changed.
  returned: when a backup was made
  type: str
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

REDACTED = "********"


def load_settings(path: str) -> tuple[dict, bool]:
    """The parsed file and whether it existed. Raises ValueError on bad content."""
    if not os.path.exists(path):
        return {}, False
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if not text.strip():
        return {}, True
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the top level is not a JSON object")
    env = data.get("env", {})
    if not isinstance(env, dict):
        raise ValueError('"env" is not a JSON object')
    return data, True


def merge(settings: dict, env: dict, state: str) -> tuple[dict, list[str]]:
    """Return the new settings and the env keys that change; settings is not modified."""
    new = json.loads(json.dumps(settings))
    new_env = dict(new.get("env", {}))
    changed = []
    for key, value in env.items():
        if state == "present":
            value = "" if value is None else str(value)
            if new_env.get(key) != value:
                new_env[key] = value
                changed.append(key)
        elif key in new_env:
            del new_env[key]
            changed.append(key)
    if changed or "env" in new:
        new["env"] = new_env
    return new, changed


def render(settings: dict, secret_keys) -> str:
    """settings.json text; secret values masked when secret_keys is given."""
    shown = settings
    if secret_keys and isinstance(settings.get("env"), dict):
        shown = dict(settings)
        shown["env"] = {k: (REDACTED if k in secret_keys else v) for k, v in settings["env"].items()}
    return json.dumps(shown, indent=2, ensure_ascii=False) + "\n"


def write_atomic(module: AnsibleModule, path: str, text: str, mode) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".settings.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    # atomic_move keeps the existing file's owner and mode.
    module.atomic_move(tmp, path)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            env=dict(type="dict", default={}),
            secret_env=dict(type="dict", default={}, no_log=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            mode=dict(type="raw", default="0600"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    wanted = {**module.params["env"], **module.params["secret_env"]}
    secret_keys = set(module.params["secret_env"])
    result = {"changed": False, "path": path, "changed_keys": []}

    try:
        current, existed = load_settings(path)
    except (ValueError, OSError) as exc:
        module.fail_json(msg=f"{path}: cannot merge into this file ({exc}); fix or move it and re-run.", **result)

    new, changed = merge(current, wanted, module.params["state"])
    result["changed_keys"] = changed
    if not changed:
        module.exit_json(**result)

    result["changed"] = True
    if module._diff:
        result["diff"] = {
            "before_header": path, "after_header": path,
            "before": render(current, secret_keys) if existed else "",
            "after": render(new, secret_keys),
        }
    if module.check_mode:
        module.exit_json(**result)

    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    if existed and module.params["backup"]:
        result["backup_file"] = module.backup_local(path)
    write_atomic(module, path, render(new, None), module.params["mode"])
    if not existed:
        module.set_mode_if_different(path, module.params["mode"], False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
