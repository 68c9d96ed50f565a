#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: grafana_dashboard
short_description: Create, update, move or delete a Grafana dashboard by uid
version_added: 0.1.0
description:
  - Reconciles one dashboard through Grafana's HTTP API (C(/api/dashboards/uid/{uid}),
    C(/api/dashboards/db)), keyed by uid and placed by folder uid (never the deprecated
    C(folderId)).
  - The stored and the desired dashboard are compared after removing what Grafana sets on
    every save (C(id), C(version), C(iteration), C(meta)), so an unchanged dashboard
    reports C(changed=false) and is not written (its version does not grow).
  - Refuses to change or delete a dashboard that Grafana provisions from a file
    (C(meta.provisioned)); change the provisioning file instead.
author: vps.monitoring maintainers (@vps-monitoring)
extends_documentation_fragment: [vps.monitoring.grafana]
attributes:
  diff_mode:
    description: Before and after are the normalised dashboard and its folder uid.
options:
  uid:
    description:
      - Dashboard uid (at most 40 characters of letters, digits, C(-) and C(_)).
      - Defaults to the C(uid) inside O(dashboard). One of the two is required, so
        the same dashboard is found again on every run.
    type: str
  dashboard:
    description:
      - The dashboard model as a dict or a JSON string; an export wrapper
        C({dashboard, meta}) is accepted. C(title) is required.
      - Required when O(state=present).
    type: raw
  folder_uid:
    description:
      - Uid of the folder to keep the dashboard in; V("") is the root (General) folder.
      - When omitted, a new dashboard goes to the root and an existing one stays where it is.
    type: str
  overwrite:
    description:
      - V(true) replaces whatever Grafana holds.
      - V(false) sends the C(version) found in O(dashboard) (or the version just read) and
        fails with a conflict if someone saved the dashboard since (409 or 412).
    type: bool
    default: true
  commit_message:
    description: Version-history message stored with a change (sent to Grafana as C(message)).
    type: str
    default: Saved by vps.monitoring.grafana_dashboard
"""

EXAMPLES = r"""
- name: Register the Linux System dashboard in the vps-monitoring folder
  vps.monitoring.grafana_dashboard:
    url: http://127.0.0.1:3000
    token: "{{ grafana_api_token }}"
    dashboard: "{{ lookup('ansible.builtin.file', 'dashboards/linux-system.json') }}"
    folder_uid: vps-monitoring

- name: Refuse to clobber edits made in the UI since the exported version
  vps.monitoring.grafana_dashboard:
    url: https://grafana.example.org
    url_username: admin
    url_password: "{{ vault_grafana_admin_password }}"
    ca_path: /etc/ssl/certs/internal-ca.pem
    dashboard: "{{ lookup('ansible.builtin.file', 'exported.json') }}"
    overwrite: false

- name: Delete a dashboard
  vps.monitoring.grafana_dashboard:
    url: http://127.0.0.1:3000
    token: "{{ grafana_api_token }}"
    uid: old-dashboard
    state: absent
"""

RETURN = r"""
uid:
  description: Dashboard uid.
  returned: always
  type: str
  sample: vpsmon-linux
version:
  description: Version Grafana holds after the run (null when absent or in check mode before creation).
  returned: always
  type: int
  sample: 3
folder_uid:
  description: Folder uid the dashboard is in after the run (V("") for the root).
  returned: when state=present
  type: str
  sample: vps-monitoring
url:
  description: Path of the dashboard in Grafana's UI.
  returned: when Grafana answered one
  type: str
  sample: /d/vpsmon-linux/linux-system
"""

import re
from functools import partial

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vps.monitoring.plugins.module_utils.grafana_api import (
    GrafanaError, grafana_argument_spec, normalise_dashboard,
    normalise_folder_uid, run_module, unwrap_dashboard)

UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def _state(dashboard, folder_uid):
    return {"folder_uid": normalise_folder_uid(folder_uid),
            "dashboard": normalise_dashboard(dashboard)}


def _desired(module):
    raw = module.params["dashboard"]
    try:
        dashboard = unwrap_dashboard(raw) if raw is not None else None
    except (ValueError, GrafanaError) as exc:
        module.fail_json(msg="dashboard is not a JSON object: %s" % exc)
    uid = module.params["uid"] or (dashboard or {}).get("uid")
    if not uid:
        module.fail_json(msg="no uid: set uid, or a uid inside dashboard, so the dashboard "
                             "is found again on the next run instead of duplicated")
    if not UID_RE.match(uid):
        module.fail_json(msg="uid=%r is invalid: use at most 40 letters, digits, '-' or '_'" % uid)
    if dashboard is not None:
        if not dashboard.get("title"):
            module.fail_json(msg="dashboard uid=%s has no title; Grafana requires one" % uid)
        dashboard["uid"] = uid
    return uid, dashboard


def _refuse_provisioned(module, uid, current):
    if (current.get("meta") or {}).get("provisioned"):
        module.fail_json(msg="dashboard uid=%s is provisioned by Grafana from a file "
                             "(meta.provisioned); refusing to change it through the API. "
                             "Edit the provisioning file instead." % uid, uid=uid)


def present(module, client, uid, desired):
    current = client.get_or_none("/api/dashboards/uid/%s" % client.q(uid))
    folder_uid = module.params["folder_uid"]
    if current:
        meta = current.get("meta") or {}
        if folder_uid is None:
            folder_uid = meta.get("folderUid")
        before = _state(current["dashboard"], meta.get("folderUid"))
        after = _state(desired, folder_uid)
        if before == after:
            return dict(changed=False, uid=uid, version=meta.get("version"),
                        folder_uid=before["folder_uid"], url=meta.get("url"))
        _refuse_provisioned(module, uid, current)
    else:
        before, after = {}, _state(desired, folder_uid)
    result = dict(changed=True, uid=uid, folder_uid=after["folder_uid"],
                  diff=dict(before=before, after=after),
                  version=(current or {}).get("meta", {}).get("version"))
    if module.check_mode:
        return result

    body_dash = dict(desired)
    body_dash["id"] = None  # key on uid only; a stale numeric id must not match
    if module.params["overwrite"]:
        body_dash.pop("version", None)
    elif "version" not in body_dash and current:
        body_dash["version"] = current["meta"].get("version")
    body = {"dashboard": body_dash, "folderUid": after["folder_uid"],
            "overwrite": module.params["overwrite"], "message": module.params["commit_message"]}
    status, answer = client.request("POST", "/api/dashboards/db", body, allow=(409, 412))
    if status in (409, 412):
        module.fail_json(
            msg="conflict (%s) saving dashboard uid=%s: it was changed in Grafana since "
                "version %s that you sent (%s). Export the current version, or set "
                "overwrite: true to replace it." % (
                    status, uid, body_dash.get("version"), (answer or {}).get("message", "")),
            uid=uid, status=status)
    result.update(version=answer.get("version"), url=answer.get("url"))
    return result


def absent(module, client, uid):
    current = client.get_or_none("/api/dashboards/uid/%s" % client.q(uid))
    if not current:
        return dict(changed=False, uid=uid, version=None)
    _refuse_provisioned(module, uid, current)
    meta = current.get("meta") or {}
    result = dict(changed=True, uid=uid, version=None,
                  diff=dict(before=_state(current["dashboard"], meta.get("folderUid")), after={}))
    if not module.check_mode:
        client.request("DELETE", "/api/dashboards/uid/%s" % client.q(uid))
    return result


def main():
    spec = grafana_argument_spec(
        uid=dict(type="str"),
        dashboard=dict(type="raw"),
        folder_uid=dict(type="str"),
        overwrite=dict(type="bool", default=True),
        commit_message=dict(type="str", default="Saved by vps.monitoring.grafana_dashboard"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "present", ["dashboard"])],
                           required_together=[("url_username", "url_password")])
    uid, desired = _desired(module)
    if module.params["state"] == "present":
        run_module(module, partial(present, uid=uid, desired=desired), uid)
    else:
        run_module(module, partial(absent, uid=uid), uid)


if __name__ == "__main__":
    main()
