#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: read_files
short_description: Read several small text files of the managed host in one module run
version_added: "0.3.0"
description:
  - Reads every file in O(paths) and returns the content of those that exist, and the paths of
    those that do not, in one module run (M(ansible.builtin.slurp) reads one file a run and
    returns it base64-encoded).
  - Meant for the few small files a role keeps on the host (generated secrets, stored hashes,
    a CA certificate). Files are read as UTF-8 text; a file larger than O(max_bytes) fails the
    module, naming it.
  - Changes nothing. Put C(no_log) on a task that reads secrets, since the contents are in its result.
author:
  - vps.monitoring maintainers (@vps-monitoring)
options:
  paths:
    description: Absolute paths of the files to read.
    type: list
    elements: path
    required: true
  max_bytes:
    description: Largest file read, in bytes.
    type: int
    default: 65536
attributes:
  check_mode:
    description: Reads in check mode too; it never changes anything.
    support: full
  diff_mode:
    description: Nothing to show; it never changes anything.
    support: none
"""

EXAMPLES = r"""
- name: Read the kept secrets, whichever exist
  vps.monitoring.read_files:
    paths:
      - /opt/vps-monitoring/proxy/secrets/otlp_token
      - /opt/vps-monitoring/proxy/ca/root.crt
  register: kept
  no_log: true

- name: Generate the token only when the host has none
  ansible.builtin.copy:
    content: "{{ lookup('ansible.builtin.password', '/dev/null', length=43) }}"
    dest: /opt/vps-monitoring/proxy/secrets/otlp_token
    mode: "0600"
  when: "'/opt/vps-monitoring/proxy/secrets/otlp_token' in kept.missing"
  no_log: true
"""

RETURN = r"""
files:
  description: Content of each file that exists, by its path as given.
  returned: always
  type: dict
  sample: {"/opt/vps-monitoring/proxy/secrets/otlp_token": "Zk3q9"}
missing:
  description: The paths of O(paths) that name no file.
  returned: always
  type: list
  elements: str
  sample: [/opt/vps-monitoring/proxy/secrets/otlp_token]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text


def read(module, path, max_bytes):
    """The file's text, or None when no file is there."""
    if not os.path.lexists(path):
        return None
    if not os.path.isfile(path):
        module.fail_json(msg="read_files: %s exists and is not a regular file" % path)
    size = os.path.getsize(path)
    if size > max_bytes:
        module.fail_json(msg="read_files: %s is %d bytes, more than max_bytes=%d: this module reads small "
                             "files only" % (path, size, max_bytes))
    try:
        with open(path, "rb") as handle:
            return to_text(handle.read(), errors="surrogate_or_strict")
    except (OSError, UnicodeError) as exc:
        module.fail_json(msg="read_files: cannot read %s as UTF-8 text: %s" % (path, exc))
    return None  # not reached: fail_json exits


def main():
    module = AnsibleModule(
        argument_spec=dict(paths=dict(type="list", elements="path", required=True),
                           max_bytes=dict(type="int", default=65536)),
        supports_check_mode=True,
    )
    files, missing = {}, []
    for path in module.params["paths"]:
        content = read(module, path, module.params["max_bytes"])
        if content is None:
            missing.append(path)
        else:
            files[path] = content
    module.exit_json(changed=False, files=files, missing=missing)


if __name__ == "__main__":
    main()
