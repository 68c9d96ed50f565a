# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make a directory present with its owner, group and mode.

Shared by the directories module and staged_files (which makes a role's
directories present in the same module run as its staging).
"""

from __future__ import annotations

import os

# argument_spec suboptions of one directory entry.
DIRECTORY_OPTIONS = dict(path=dict(type="path", required=True), owner=dict(type="str"),
                         group=dict(type="str"), mode=dict(type="raw"))


def ensure_directory(module, spec):
    """Create or correct one directory; returns (changed, diff). Honours check mode."""
    path = spec["path"]
    diff = {"before": {"path": path, "state": "directory"}, "after": {"path": path, "state": "directory"},
            "before_header": path, "after_header": path}
    changed = False
    if not os.path.lexists(path):
        changed = True
        diff["before"]["state"] = "absent"
        if module.check_mode:
            return changed, diff
        try:
            os.makedirs(path)
        except OSError as exc:
            module.fail_json(msg="cannot create the directory %s: %s" % (path, exc))
    elif not os.path.isdir(path):
        module.fail_json(msg="%s exists and is not a directory: move it away or choose another path" % path)
    file_args = {"path": path, "owner": spec.get("owner"), "group": spec.get("group"), "mode": spec.get("mode"),
                 "attributes": None, "secontext": [None, None, None, None]}
    changed = module.set_fs_attributes_if_different(file_args, changed, diff)
    return changed, diff
