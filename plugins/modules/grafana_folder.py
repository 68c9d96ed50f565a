#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: grafana_folder
short_description: Create, rename or delete a Grafana folder by uid
version_added: 0.1.0
description:
  - Reconciles one folder through C(/api/folders/{uid}), keyed by uid, so renaming the
    title never creates a second folder.
  - Deleting a folder deletes the dashboards in it (Grafana's behaviour).
author: vps.monitoring maintainers (@vps-monitoring)
extends_documentation_fragment: [vps.monitoring.grafana]
attributes:
  diff_mode:
    description: Before and after are the folder's uid and title.
options:
  uid:
    description: Folder uid (at most 40 letters, digits, C(-) or C(_)).
    type: str
    required: true
  title:
    description: Folder title. Required when O(state=present).
    type: str
  state:
    # type, choices and default come from the vps.monitoring.grafana fragment.
    description: V(present) creates or renames; V(absent) deletes the folder and its dashboards.
"""

EXAMPLES = r"""
- name: Folder for the stack's dashboards
  vps.monitoring.grafana_folder:
    url: http://127.0.0.1:3000
    token: "{{ grafana_api_token }}"
    uid: vps-monitoring
    title: VPS monitoring
"""

RETURN = r"""
uid:
  description: Folder uid.
  returned: always
  type: str
  sample: vps-monitoring
version:
  description: Folder version after the run (null when absent or not yet created).
  returned: always
  type: int
  sample: 1
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vps.monitoring.plugins.module_utils.grafana_api import (
    grafana_argument_spec, reconcile, run_module)

UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def run(module, client):
    uid = module.params["uid"]
    path = "/api/folders/%s" % client.q(uid)
    current = client.get_or_none(path)
    after = {"uid": uid, "title": module.params["title"]} if module.params["state"] == "present" else None

    def write(current, after):
        if current:
            # Send the version just read: a concurrent rename surfaces as a conflict.
            _status, answer = client.request("PUT", path, {"title": after["title"],
                                                           "version": current.get("version")})
        else:
            _status, answer = client.request("POST", "/api/folders", {"uid": uid, "title": after["title"]})
        return dict(version=(answer or {}).get("version"))

    return reconcile(module, client, path, current,
                     before={"uid": uid, "title": current["title"]} if current else {}, after=after,
                     write=write,
                     # A deleted (or missing) folder has no version.
                     uid=uid, version=current.get("version") if current and after is not None else None)


def main():
    spec = grafana_argument_spec(
        uid=dict(type="str", required=True),
        title=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "present", ["title"])],
                           required_together=[("url_username", "url_password")])
    if not UID_RE.match(module.params["uid"]):
        module.fail_json(msg="uid=%r is invalid: use at most 40 letters, digits, '-' or '_'"
                             % module.params["uid"])
    run_module(module, run, module.params["uid"])


if __name__ == "__main__":
    main()
