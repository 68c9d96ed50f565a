#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: staged_files
short_description: Install exactly the validated bytes of a staging directory into a live directory
version_added: "0.2.0"
description:
  - Compares the files of a staging directory (rendered and validated there) with a live
    directory, byte for byte, and installs the staged bytes of every file that differs, each with
    an atomic rename. Live files that match O(patterns) but were not staged are removed.
  - Nothing is rendered twice, so the live files are exactly the ones the validation tool saw.
  - Reports C(changed) only for a real difference, so a caller can skip validation when
    nothing changed (run it in check mode first, see the examples).
  - Supports check mode and diff mode. Files matching O(hide_content) are never shown in a diff.
author:
  - vps.monitoring maintainers (@vps-monitoring)
options:
  src:
    description: Staging directory, read recursively.
    type: path
    required: true
  dest:
    description: Live directory; created when missing.
    type: path
    required: true
  patterns:
    description:
      - Shell patterns, relative to O(dest), of the live files this module manages. A live file
        that matches one and was not staged is removed. Other live files are left alone.
      - The default manages every file under O(dest).
    type: list
    elements: str
    default: ["*"]
  exclude:
    description: Shell patterns, relative to O(src), of staged files that are not installed.
    type: list
    elements: str
    default: []
  hide_content:
    description: Shell patterns of files whose content is never shown in a diff (keys, passwords).
    type: list
    elements: str
    default: []
  owner:
    description: Owner of the installed files (name or uid).
    type: str
  group:
    description: Group of the installed files (name or gid).
    type: str
  mode:
    description: Mode of the installed files.
    type: raw
    default: "0644"
attributes:
  check_mode:
    description: Reports what would be installed or removed without touching a file.
    support: full
  diff_mode:
    description: Shows each changed file, hiding the content of O(hide_content) files.
    support: full
"""

EXAMPLES = r"""
- name: Find out whether the staged configuration differs from the live one
  vps.monitoring.staged_files:
    src: /opt/vps-monitoring/prometheus/staging
    dest: /opt/vps-monitoring/prometheus/config
    patterns: [prometheus.yml, "rules/*.rules.yml"]
  check_mode: true
  register: pending

- name: Validate only what changed
  vps.monitoring.promtool_check:
    check: config
    paths: [/opt/vps-monitoring/prometheus/staging/prometheus.yml]
    image: prom/prometheus:v3.5.0
  when: pending is changed

- name: Install the validated bytes
  vps.monitoring.staged_files:
    src: /opt/vps-monitoring/prometheus/staging
    dest: /opt/vps-monitoring/prometheus/config
    patterns: [prometheus.yml, "rules/*.rules.yml"]
  notify: Reload Prometheus
"""

RETURN = r"""
installed:
  description: Files (relative paths) whose staged bytes were, or in check mode would be, installed.
  returned: always
  type: list
  elements: str
  sample: [rules/node.rules.yml]
removed:
  description: Live files (relative paths) that were, or would be, removed.
  returned: always
  type: list
  elements: str
  sample: [rules/old.rules.yml]
"""

import fnmatch
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

_MAX_DIFF_BYTES = 256 * 1024


def _files(root):
    """Relative paths of the regular files under root, sorted."""
    found = []
    if not os.path.isdir(root):
        return found
    for directory, subdirs, names in os.walk(root):
        subdirs.sort()
        for name in sorted(names):
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not os.path.islink(path):
                found.append(os.path.relpath(path, root))
    return found


def _matches(rel, patterns):
    return any(fnmatch.fnmatch(rel, pattern) for pattern in patterns)


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _diff_text(data):
    if data is None:
        return ""
    if len(data) > _MAX_DIFF_BYTES or b"\0" in data:
        return "(%d bytes, not shown)\n" % len(data)
    return to_text(data, errors="surrogate_or_replace")


def plan(src, dest, patterns, exclude):
    """What installing src over dest changes: ([(rel, new_bytes, old_bytes)], [removed rel])."""
    staged = [rel for rel in _files(src) if not _matches(rel, exclude)]
    install = []
    for rel in staged:
        new = _read(os.path.join(src, rel))
        old = _read(os.path.join(dest, rel))
        if new != old:
            install.append((rel, new, old))
    staged_set = set(staged)
    remove = [rel for rel in _files(dest) if _matches(rel, patterns) and rel not in staged_set]
    return install, remove


def _install(module, dest, rel, data):
    target = os.path.join(dest, rel)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".staged-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        module.atomic_move(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="path", required=True),
            dest=dict(type="path", required=True),
            patterns=dict(type="list", elements="str", default=["*"]),
            exclude=dict(type="list", elements="str", default=[]),
            hide_content=dict(type="list", elements="str", default=[]),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw", default="0644"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    src, dest = params["src"], params["dest"]
    if not os.path.isdir(src):
        module.fail_json(msg="staged_files: src %s is not a directory; render the staged files first" % src)

    install, remove = plan(src, dest, params["patterns"], params["exclude"])
    changed = bool(install or remove)

    diffs = []
    if module._diff:
        for rel, new, old in install:
            hidden = _matches(rel, params["hide_content"])
            diffs.append(dict(
                before_header=os.path.join(dest, rel), after_header=os.path.join(dest, rel),
                before="(hidden)\n" if hidden and old is not None else _diff_text(old),
                after="(hidden)\n" if hidden else _diff_text(new)))
        for rel in remove:
            old = _read(os.path.join(dest, rel))
            hidden = _matches(rel, params["hide_content"])
            diffs.append(dict(before_header=os.path.join(dest, rel), after_header="(absent)",
                              before="(hidden)\n" if hidden else _diff_text(old), after=""))

    if not module.check_mode:
        for rel, new, _old in install:
            _install(module, dest, rel, new)
        for rel in remove:
            os.unlink(os.path.join(dest, rel))
    # Ownership and mode of every managed file, so a file changed by hand
    # comes back too (in check mode only reported).
    installed = [item[0] for item in install]
    for rel in _files(src):
        path = os.path.join(dest, rel)
        if _matches(rel, params["exclude"]) or not os.path.exists(path):
            continue
        file_args = module.load_file_common_arguments(dict(
            path=path, owner=params["owner"], group=params["group"], mode=params["mode"]))
        if module.set_fs_attributes_if_different(file_args, False) and rel not in installed:
            changed = True
            installed.append(rel)

    result = dict(changed=changed, installed=installed, removed=remove)
    if diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
