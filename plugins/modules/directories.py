#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: directories
short_description: Make several directories present, each with its owner, group and mode, in one call
version_added: "0.2.0"
description:
  - Makes every directory in O(directories) present with its owner, group and mode, in the
    order given (a parent before its children), in one module run instead of one
    M(ansible.builtin.file) run per directory.
  - Reports C(changed) only when a directory is created or its owner, group or mode corrected.
  - Fails naming the path when one exists and is not a directory.
  - Supports check mode and diff mode.
author:
  - vps.monitoring maintainers (@vps-monitoring)
options:
  directories:
    description: The directories, each with its attributes.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the directory; missing parents are created too.
        type: path
        required: true
      owner:
        description: Owner (name or uid).
        type: str
      group:
        description: Group (name or gid).
        type: str
      mode:
        description: Mode, as an octal string such as C("0755").
        type: raw
attributes:
  check_mode:
    description: Reports what would be created or corrected without touching a directory.
    support: full
  diff_mode:
    description: Shows each directory created or corrected.
    support: full
"""

EXAMPLES = r"""
- name: Create the Prometheus directories
  vps.monitoring.directories:
    directories:
      - {path: /opt/vps-monitoring/prometheus, owner: root, group: root, mode: "0755"}
      - {path: /opt/vps-monitoring/prometheus/data, owner: "65534", group: "65534", mode: "0755"}
"""

RETURN = r"""
changed_paths:
  description: The directories that were (or in check mode would be) created or corrected.
  returned: always
  type: list
  elements: str
  sample: [/opt/vps-monitoring/prometheus/data]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vps.monitoring.plugins.module_utils.directories import DIRECTORY_OPTIONS, ensure_directory


def main():
    module = AnsibleModule(
        argument_spec=dict(directories=dict(
            type="list", elements="dict", required=True,
            options=DIRECTORY_OPTIONS)),
        supports_check_mode=True,
    )
    changed_paths, diffs = [], []
    for spec in module.params["directories"]:
        changed, diff = ensure_directory(module, spec)
        if changed:
            changed_paths.append(spec["path"])
            diffs.append(diff)
    module.exit_json(changed=bool(changed_paths), changed_paths=changed_paths, diff=diffs)


if __name__ == "__main__":
    main()
