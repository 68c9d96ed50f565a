#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: amtool_check
short_description: Validate Alertmanager configuration files with amtool check-config
version_added: "0.1.0"
description:
  - Runs the real C(amtool check-config) over Alertmanager configuration files and returns one
    structured result per file (file, the tool's message, and the receiver when a route names an
    unknown one).
  - With O(image), amtool runs from that image through the Docker SDK (no network, user 65534,
    read-only root filesystem, the files' directories mounted read-only at the same paths,
    container removed afterwards; the image is never pulled). With O(binary), a local amtool runs.
  - Changes nothing, so it runs in check mode too.
author:
  - vps.monitoring maintainers (@vps-monitoring)
options:
  paths:
    description:
      - Host paths of the Alertmanager configuration files to check.
      - Files must be readable by user 65534 when O(image) is used.
    type: list
    elements: path
    required: true
  tool_path:
    # Description and type come from the vps.monitoring.tool_runner fragment.
    default: /bin/amtool
extends_documentation_fragment: [vps.monitoring.tool_runner]
seealso:
  - module: vps.monitoring.promtool_check
"""

EXAMPLES = r"""
- name: Validate the staged Alertmanager config with the amtool of the image that will run it
  vps.monitoring.amtool_check:
    paths: [/opt/vps-monitoring/alertmanager/staging/alertmanager.yml]
    image: "{{ alertmanager_image }}"
    redact: ["{{ alertmanager_webhook_url }}"]
"""

RETURN = r"""
results:
  description: One entry per checked file; C(level) is V(ok) or V(error).
  returned: always
  type: list
  elements: dict
  sample:
    - file: /opt/vps-monitoring/alertmanager/staging/alertmanager.yml
      level: error
      receiver: pager
      message: 'undefined receiver "pager" used in route'
stdout:
  description: amtool's standard output (where it writes per-file findings).
  returned: when the tool ran
  type: str
stderr:
  description: amtool's standard error.
  returned: when the tool ran
  type: str
rc:
  description: amtool's exit code.
  returned: when the tool ran
  type: int
tool_version:
  description: First line of C(amtool --version).
  returned: when the tool ran
  type: str
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vps.monitoring.plugins.module_utils.tool_runner import (
    TOOL_RUNNER_CONSTRAINTS, ToolError, module_runner, tool_runner_args)

_CHECKING = re.compile(r"^Checking '(?P<file>[^']*)'\s+(?P<status>SUCCESS|FAILED)(?::\s*(?P<message>.*))?$")
_RECEIVER = re.compile(r'undefined receiver "(?P<receiver>[^"]*)"')


def parse_check_config(stdout, stderr, paths=()):
    """One result per file from ``amtool check-config`` output."""
    results = []
    for line in (stdout or "").splitlines():
        match = _CHECKING.match(line.rstrip())
        if not match:
            continue
        entry = {"file": match["file"], "level": "ok" if match["status"] == "SUCCESS" else "error",
                 "message": (match["message"] or "").strip() or match["status"], "receiver": None}
        receiver = _RECEIVER.search(entry["message"])
        if receiver:
            entry["receiver"] = receiver["receiver"]
        results.append(entry)
    seen = set(r["file"] for r in results)
    tail = (stderr or "").strip()
    for path in paths:
        if path not in seen and tail:
            results.append({"file": path, "level": "error", "message": tail, "receiver": None})
    return results


def describe(result):
    text = "%s: %s" % (result["file"], result["message"])
    if result.get("receiver"):
        text += (" (a route sends to receiver %r, but no receiver has that name: add it under "
                 "receivers: or point the route at an existing receiver)" % result["receiver"])
    return text


def main():
    spec = tool_runner_args("/bin/amtool")
    spec.update(paths=dict(type="list", elements="path", required=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **TOOL_RUNNER_CONSTRAINTS)
    params = module.params
    paths = [os.path.abspath(p) for p in params["paths"]]
    if not paths:
        module.fail_json(msg="paths is empty: give the Alertmanager config file(s) to check")
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        module.fail_json(msg="paths: no such file(s): %s" % ", ".join(missing))
    try:
        runner = module_runner(module)
        outcome = runner.run(["check-config"] + paths, paths=paths + params["mount_dirs"])
        version = runner.version()
    except ToolError as exc:
        module.fail_json(msg="cannot run amtool: %s" % exc, results=[])

    results = parse_check_config(outcome.stdout, outcome.stderr, paths)
    output = dict(changed=False, results=results, stdout=outcome.stdout, stderr=outcome.stderr,
                  rc=outcome.rc, tool_version=version)
    errors = [r for r in results if r["level"] == "error"]
    if outcome.rc != 0 or errors:
        if not errors:
            errors = [{"file": ", ".join(paths), "message": (outcome.stderr or outcome.stdout).strip()}]
        module.fail_json(msg="\n".join(["amtool (%s) rejected the Alertmanager config; fix it and run again:"
                                        % runner.where] + ["- " + describe(r) for r in errors]), **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
