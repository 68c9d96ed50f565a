#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge environment variables and hooks into Claude Code's settings.json."""

from __future__ import annotations

DOCUMENTATION = r"""
module: claude_code_settings
short_description: Merge environment variables and hooks into Claude Code's settings.json
description:
  - Sets (or removes) keys of the C(env) object in a Claude Code settings file such as
    C(~/.claude/settings.json), leaving every other key of the file and of C(env) as it was.
  - Adds (or removes) command hooks under C(hooks.<event>), leaving the user's other hooks, of
    that event and of every other event, as they were.
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
  hooks:
    description:
      - Command hooks to merge (O(state=present)) or remove (O(state=absent)).
      - A hook is found again by O(hooks[].id), a text its command contains (for example the
        script's file name), so a changed command replaces the old one instead of adding a second.
    type: list
    elements: dict
    default: []
    suboptions:
      event:
        description: Hook event, for example C(SessionEnd).
        type: str
        required: true
      command:
        description: Shell command Claude Code runs; the event's JSON arrives on its standard input.
        type: str
        required: true
      id:
        description: Text that identifies this hook's command; defaults to the whole command.
        type: str
      matcher:
        description: Matcher of the group the hook goes into; omitted for events without matchers.
        type: str
      timeout:
        description: Seconds Claude Code lets the command run.
        type: int
  state:
    description: C(present) sets the variables and hooks; C(absent) removes the named ones.
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

- name: Tell the n8n hub when a session ends, keeping the user's own hooks
  vps.monitoring.claude_code_settings:
    path: "~/.claude/settings.json"
    hooks:
      - event: SessionEnd
        id: vpsmon_session_end.py
        command: python3 /home/dev/.claude/hooks/vpsmon_session_end.py /home/dev/.claude/vpsmon-hook.json
        timeout: 10

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
changed_hooks:
  description: Events whose managed hook was (or, in check mode, would be) added, changed or removed.
  returned: always
  type: list
  elements: str
  sample: [SessionEnd]
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


def _is_managed(hook, ident: str) -> bool:
    return isinstance(hook, dict) and hook.get("type") == "command" and ident in str(hook.get("command", ""))


def merge_hooks(settings: dict, hooks: list, state: str) -> tuple[dict, list[str]]:
    """Return the new settings and the events whose managed hook changes.

    A managed hook is a command hook whose command contains the spec's id;
    every other hook (the user's) is kept as it was. Raises ValueError when
    the existing hooks are not shaped as Claude Code reads them.
    """
    new = json.loads(json.dumps(settings))
    had_hooks = "hooks" in new
    table = new.setdefault("hooks", {})
    if not isinstance(table, dict):
        raise ValueError('"hooks" is not a JSON object')
    changed = []
    for spec in hooks:
        event, ident = spec["event"], spec.get("id") or spec["command"]
        groups = table.get(event, [])
        if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("hooks", []), list)
                                                   for g in groups):
            raise ValueError(f'"hooks.{event}" is not a list of {{"hooks": [...]}} groups')
        found = [(g, h) for g in groups for h in g.get("hooks", []) if _is_managed(h, ident)]
        wanted = {"type": "command", "command": spec["command"]}
        if spec.get("timeout") is not None:
            wanted["timeout"] = spec["timeout"]
        if state == "present" and len(found) == 1 and found[0][1] == wanted \
                and found[0][0].get("matcher") == spec.get("matcher"):
            continue
        if state == "absent" and not found:
            continue
        kept = []
        for group in groups:
            rest = [h for h in group.get("hooks", []) if not _is_managed(h, ident)]
            if rest or not group.get("hooks"):
                kept.append({**group, "hooks": rest} if "hooks" in group else group)
        if state == "present":
            home = next((g for g in kept if g.get("matcher") == spec.get("matcher")), None)
            if home is None:
                home = {"matcher": spec["matcher"]} if spec.get("matcher") is not None else {}
                home["hooks"] = []
                kept.append(home)
            home["hooks"].append(wanted)
        if kept:
            table[event] = kept
        else:
            table.pop(event, None)
        changed.append(event)
    # An empty table this module created or emptied goes, so removal restores the file.
    if not table and (not had_hooks or changed):
        del new["hooks"]
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
            hooks=dict(type="list", elements="dict", default=[], options=dict(
                event=dict(type="str", required=True),
                command=dict(type="str", required=True),
                id=dict(type="str"),
                matcher=dict(type="str"),
                timeout=dict(type="int"),
            )),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            mode=dict(type="raw", default="0600"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    wanted = {**module.params["env"], **module.params["secret_env"]}
    secret_keys = set(module.params["secret_env"])
    result = {"changed": False, "path": path, "changed_keys": [], "changed_hooks": []}

    try:
        current, existed = load_settings(path)
        new, changed = merge(current, wanted, module.params["state"])
        new, changed_hooks = merge_hooks(new, module.params["hooks"], module.params["state"])
    except (ValueError, OSError) as exc:
        module.fail_json(msg=f"{path}: cannot merge into this file ({exc}); fix or move it and re-run.", **result)

    result["changed_keys"] = changed
    result["changed_hooks"] = changed_hooks
    if not changed and not changed_hooks:
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
