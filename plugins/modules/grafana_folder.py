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
  check_mode:
    support: full
    description: Reports what would change, writes nothing.
  diff_mode:
    support: full
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
    description: V(present) creates or renames; V(absent) deletes the folder and its dashboards.
    type: str
    choices: [present, absent]
    default: present
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
    GRAFANA_COMMON_ARGS, GrafanaClient, GrafanaError)

UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def run(module, client):
    uid = module.params["uid"]
    path = "/api/folders/%s" % client.q(uid)
    current = client.get_or_none(path)
    before = {"uid": uid, "title": current["title"]} if current else {}
    version = (current or {}).get("version")
    if module.params["state"] == "absent":
        if not current:
            return dict(changed=False, uid=uid, version=None)
        if not module.check_mode:
            client.request("DELETE", path)
        return dict(changed=True, uid=uid, version=None, diff=dict(before=before, after={}))

    after = {"uid": uid, "title": module.params["title"]}
    if before == after:
        return dict(changed=False, uid=uid, version=version)
    result = dict(changed=True, uid=uid, version=version, diff=dict(before=before, after=after))
    if module.check_mode:
        return result
    if current:
        # Send the version just read: a concurrent rename surfaces as a conflict.
        _status, answer = client.request("PUT", path, {"title": after["title"], "version": version})
    else:
        _status, answer = client.request("POST", "/api/folders", {"uid": uid, "title": after["title"]})
    result["version"] = (answer or {}).get("version")
    return result


def main():
    spec = dict(GRAFANA_COMMON_ARGS)
    spec.update(
        uid=dict(type="str", required=True),
        title=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "present", ["title"])],
                           required_together=[("url_username", "url_password")])
    if not UID_RE.match(module.params["uid"]):
        module.fail_json(msg="uid=%r is invalid: use at most 40 letters, digits, '-' or '_'"
                             % module.params["uid"])
    try:
        client = GrafanaClient(**{k: module.params[k] for k in GRAFANA_COMMON_ARGS})
        result = run(module, client)
    except GrafanaError as exc:
        module.fail_json(msg=str(exc), status=exc.status, uid=module.params["uid"])
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
