#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: staged_files
short_description: Stage files, and install exactly the validated bytes of the staging directory into a live directory
version_added: "0.2.0"
description:
  - Compares the files of a staging directory (rendered and validated there) with a live
    directory, byte for byte, and installs the staged bytes of every file that differs, each with
    an atomic rename. Live files that match O(patterns) but were not staged are removed.
  - Nothing is rendered twice, so the live files are exactly the ones the validation tool saw.
  - Reports C(changed) only for a real difference, so a caller can skip validation when
    nothing changed (see the examples).
  - With O(stage), the module first writes the given contents (rendered on the controller, for
    example with the P(ansible.builtin.template#lookup) lookup) into the staging directory, and
    with O(directories) it first makes the role's directories present (directories, staging and
    the comparison then cost one module run). A converge in which nothing changed runs this module
    once per component and nothing else.
  - With O(state=staged) the live directory is never touched; the module reports whether the
    staged set differs from the live one (C(changed)), so the caller validates only a real
    change and then installs with O(state=installed).
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
      - Shell patterns, relative to O(dest), of the files this module manages. A staged file
        that matches one (and no O(exclude) pattern) is installed and given its owner, group and
        mode; a live file that matches one and was not staged is removed. Other files, staged or
        live, are left alone, so several calls can manage disjoint sets of one directory.
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
  file_attributes:
    description:
      - Owner, group and mode of the files matching a shell pattern (relative to O(src) and
        O(dest)), in place of O(owner), O(group) and O(mode). The first matching entry applies,
        to the staged and to the installed copy.
      - For example a password file read by the container's user only.
    type: list
    elements: dict
    default: []
    suboptions:
      pattern:
        description: Shell pattern of the relative paths this entry applies to.
        type: str
        required: true
      owner:
        description: Owner (name or uid).
        type: str
      group:
        description: Group (name or gid).
        type: str
      mode:
        description: Mode, as an octal string such as C("0400").
        type: raw
  stage:
    description:
      - Files to write into O(src) before the comparison, each with its relative path and its
        content. Only files whose bytes differ are written (atomically).
      - Files under O(src) that match O(patterns), are not listed here and are not in
        O(exclude) are removed from O(src); staging is scratch space owned by this module.
      - Written in check mode too (the staging directory is not the live one), so the real
        validation tool can check what would be deployed.
      - Content of secrets belongs in a task with C(no_log), and its paths in O(hide_content).
    type: list
    elements: dict
    suboptions:
      path:
        description: Path relative to O(src).
        type: str
        required: true
      content:
        description: The file's exact content.
        type: str
        required: true
  directories:
    description:
      - Directories made present, in order (a parent before its children), each with its owner,
        group and mode, before anything is staged, as M(vps.monitoring.directories) does. Made
        present in check mode too, since the staging directory must exist for validation.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path; missing parents are created too.
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
  state:
    description:
      - V(installed) installs the staged bytes into O(dest).
      - V(staged) stops after staging and comparing; O(dest) is not touched, and C(changed)
        with RV(installed) and RV(removed) say what an install would change (owner and mode
        included). Validate the staging directory when it reports a change.
      - V(absent) removes the files matching O(patterns) from O(src) and O(dest), where those
        directories exist, and creates nothing (a feature switched off, whose files an earlier
        run installed). RV(removed) lists the live files. O(stage) and O(directories) must not
        be given.
    type: str
    choices: [installed, staged, absent]
    default: installed
attributes:
  check_mode:
    description: Reports what would be installed or removed without touching a file.
    support: full
  diff_mode:
    description: Shows each changed file, hiding the content of O(hide_content) files.
    support: full
"""

EXAMPLES = r"""
- name: Stage the rendered configuration and compare it with the live one (one module run)
  vps.monitoring.staged_files:
    directories:
      - {path: /opt/vps-monitoring/prometheus/staging, owner: root, group: root, mode: "0755"}
      - {path: /opt/vps-monitoring/prometheus/config, owner: root, group: root, mode: "0755"}
    stage:
      - path: prometheus.yml
        content: "{{ lookup('ansible.builtin.template', 'prometheus.yml.j2') }}"
      - path: rules/node.rules.yml
        content: "{{ lookup('ansible.builtin.template', 'rules/node.rules.yml.j2') }}"
    src: /opt/vps-monitoring/prometheus/staging
    dest: /opt/vps-monitoring/prometheus/config
    patterns: [prometheus.yml, "rules/*.rules.yml"]
    state: staged
  # Staging is written even in check mode: the real tool checks it.
  check_mode: false
  diff: false
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
  when: pending is changed
  notify: Reload Prometheus

- name: Write the file_sd target files (no validation needed) in one run
  vps.monitoring.staged_files:
    stage:
      - path: node-exporter.json
        content: "{{ targets | to_nice_json }}"
    src: /opt/vps-monitoring/prometheus/staging/file_sd
    dest: /opt/vps-monitoring/prometheus/config/file_sd
    patterns: ["*.json"]
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
directories_changed:
  description: Directories of O(directories) that were created or corrected.
  returned: always
  type: list
  elements: str
  sample: [/opt/vps-monitoring/prometheus/staging]
"""

import fnmatch
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible_collections.vps.monitoring.plugins.module_utils.directories import DIRECTORY_OPTIONS, ensure_directory

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


def _managed(rel, patterns, exclude):
    return _matches(rel, patterns) and not _matches(rel, exclude)


def plan(src, dest, patterns, exclude):
    """What installing src over dest changes: ([(rel, new_bytes, old_bytes)], [removed rel]).

    Only the managed files count (a pattern matches, no exclude does): another
    call's files in the same staging directory are not this call's to install.
    """
    staged = [rel for rel in _files(src) if _managed(rel, patterns, exclude)]
    install = []
    for rel in staged:
        new = _read(os.path.join(src, rel))
        old = _read(os.path.join(dest, rel))
        if new != old:
            install.append((rel, new, old))
    staged_set = set(staged)
    remove = [rel for rel in _files(dest) if _managed(rel, patterns, exclude) and rel not in staged_set]
    return install, remove


def _write(module, target, data):
    """Write data to target atomically (a temporary file renamed over it)."""
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


def _attributes(params, rel):
    """Owner, group and mode of one managed file: its file_attributes entry, or the module's."""
    for entry in params["file_attributes"]:
        if fnmatch.fnmatch(rel, entry["pattern"]):
            return entry.get("owner"), entry.get("group"), entry.get("mode")
    return params["owner"], params["group"], params["mode"]


def _set_attributes(module, params, root, rel, report_only):
    """Correct one file's owner, group and mode; with report_only, only say whether they differ."""
    owner, group, mode = _attributes(params, rel)
    file_args = module.load_file_common_arguments(dict(
        path=os.path.join(root, rel), owner=owner, group=group, mode=mode))
    saved = module.check_mode
    module.check_mode = saved or report_only
    try:
        return module.set_fs_attributes_if_different(file_args, False)
    finally:
        module.check_mode = saved


def stage_files(module, params):
    """Write the stage entries into src (only differing bytes); drop managed files not staged."""
    src = params["src"]
    wanted = set()
    for entry in params["stage"]:
        rel = os.path.normpath(entry["path"])
        if rel.startswith("..") or os.path.isabs(rel):
            module.fail_json(msg="staged_files: stage path %s must be relative and inside src" % entry["path"])
        wanted.add(rel)
        data = to_bytes(entry["content"], errors="surrogate_or_strict")
        target = os.path.join(src, rel)
        if _read(target) != data:
            _write(module, target, data)
        # Staging is read by the validation tool as the program's user.
        _set_attributes(module, params, src, rel, report_only=False)
    for rel in _files(src):
        if rel not in wanted and _managed(rel, params["patterns"], params["exclude"]):
            os.unlink(os.path.join(src, rel))


def remove_managed(module, params):
    """state=absent: the managed files go from staging and live; nothing is created."""
    if params["stage"] is not None or params["directories"]:
        module.fail_json(msg="staged_files: state=absent removes files; give neither stage nor directories")
    removed, diffs = [], []
    for root in (params["src"], params["dest"]):
        for rel in _files(root):
            if not _managed(rel, params["patterns"], params["exclude"]):
                continue
            path = os.path.join(root, rel)
            if root == params["dest"]:
                removed.append(rel)
                hidden = _matches(rel, params["hide_content"])
                diffs.append(dict(before_header=path, after_header="(absent)",
                                  before="(hidden)\n" if hidden else _diff_text(_read(path)), after=""))
            if not module.check_mode:
                os.unlink(path)
    result = dict(changed=bool(removed), installed=[], removed=removed, directories_changed=[])
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


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
            file_attributes=dict(type="list", elements="dict", default=[], options=dict(
                pattern=dict(type="str", required=True), owner=dict(type="str"),
                group=dict(type="str"), mode=dict(type="raw"))),
            stage=dict(type="list", elements="dict", options=dict(
                path=dict(type="str", required=True), content=dict(type="str", required=True))),
            directories=dict(type="list", elements="dict", default=[], options=DIRECTORY_OPTIONS),
            state=dict(type="str", choices=["installed", "staged", "absent"], default="installed"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    src, dest = params["src"], params["dest"]
    if params["state"] == "absent":
        remove_managed(module, params)
    report_only = module.check_mode or params["state"] == "staged"

    # Directories and staging are scratch-side work, done in check mode too:
    # the validation tool must find what would be deployed.
    directories_changed = []
    saved = module.check_mode
    module.check_mode = False
    try:
        for spec in params["directories"]:
            if ensure_directory(module, spec)[0]:
                directories_changed.append(spec["path"])
        if params["stage"] is not None:
            if not os.path.isdir(src):
                os.makedirs(src, 0o755)
            stage_files(module, params)
    finally:
        module.check_mode = saved

    if not os.path.isdir(src):
        module.fail_json(msg="staged_files: src %s is not a directory; render the staged files first" % src)
    install, remove = plan(src, dest, params["patterns"], params["exclude"])
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
    if not report_only:
        for rel, new, _old in install:
            _write(module, os.path.join(dest, rel), new)
        for rel in remove:
            os.unlink(os.path.join(dest, rel))
    # Ownership and mode of every managed file, so a file changed by hand
    # comes back too (with state=staged or in check mode only reported).
    installed = [item[0] for item in install]
    for rel in _files(src):
        if not _managed(rel, params["patterns"], params["exclude"]) or not os.path.exists(os.path.join(dest, rel)):
            continue
        if _set_attributes(module, params, dest, rel, report_only) and rel not in installed:
            installed.append(rel)
    result = dict(changed=bool(installed or remove), installed=installed, removed=remove,
                  directories_changed=directories_changed)
    if directories_changed and params["state"] == "installed":
        result["changed"] = True
    if diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
