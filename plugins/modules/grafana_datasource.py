#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: grafana_datasource
short_description: Create, update or delete a Grafana data source by uid
version_added: 0.1.0
description:
  - Reconciles one data source through C(/api/datasources/uid/{uid}), keyed by uid, so
    dashboards can reference it by a fixed uid.
  - Compares only the fields this module manages (name, type, access, url, default flag,
    basic auth, C(jsonData)); server fields such as C(id), C(version) and C(orgId) never
    cause a change.
  - Refuses to change or delete a data source Grafana provisions from a file
    (C(readOnly)); change the provisioning file instead.
author: vps.monitoring maintainers (@vps-monitoring)
extends_documentation_fragment: [vps.monitoring.grafana]
attributes:
  diff_mode:
    description: Before and after are the managed fields; secure fields never appear.
options:
  uid:
    description: Data source uid; dashboards reference it.
    type: str
    required: true
  name:
    description: Display name, unique in the organisation. Required when O(state=present).
    type: str
  type:
    description: Plugin type, for example V(prometheus).
    type: str
    default: prometheus
  ds_url:
    description: URL Grafana's backend queries, for example V(http://prometheus:9090).
    type: str
  access:
    description: V(proxy) (Grafana's backend queries) or V(direct) (the browser queries).
    type: str
    choices: [proxy, direct]
    default: proxy
  is_default:
    description: Make it the organisation's default data source.
    type: bool
    default: false
  basic_auth_user:
    description: User for basic auth towards the data source; enables basic auth when set.
    type: str
  json_data:
    description: Plugin settings (C(jsonData)), for example C(timeInterval).
    type: dict
    default: {}
  secure_json_data:
    description:
      - Secret plugin settings (C(secureJsonData)), for example C(basicAuthPassword).
      - Grafana never returns them, so they cannot be compared; they are sent when the
        data source is created or another field changes. Never printed.
    type: dict
"""

EXAMPLES = r"""
- name: Prometheus data source with a fixed uid
  vps.monitoring.grafana_datasource:
    url: http://127.0.0.1:3000
    token: "{{ grafana_api_token }}"
    uid: prometheus
    name: Prometheus
    ds_url: http://prometheus:9090
    is_default: true
    json_data:
      timeInterval: 15s
"""

RETURN = r"""
uid:
  description: Data source uid.
  returned: always
  type: str
  sample: prometheus
id:
  description: Numeric id Grafana gave the data source (null when absent).
  returned: always
  type: int
  sample: 1
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vps.monitoring.plugins.module_utils.grafana_api import (
    grafana_argument_spec, normalise_datasource, reconcile, run_module)


def _desired(params):
    return normalise_datasource({
        "uid": params["uid"], "name": params["name"], "type": params["type"],
        "access": params["access"], "url": params["ds_url"] or "",
        "isDefault": params["is_default"], "basicAuth": bool(params["basic_auth_user"]),
        "basicAuthUser": params["basic_auth_user"] or "", "jsonData": params["json_data"],
    })


def _refuse_read_only(module, uid, current):
    if current.get("readOnly"):
        module.fail_json(msg="data source uid=%s is provisioned by Grafana from a file "
                             "(readOnly); refusing to change it through the API. Edit the "
                             "provisioning file instead." % uid, uid=uid)


def run(module, client):
    params = module.params
    uid = params["uid"]
    path = "/api/datasources/uid/%s" % client.q(uid)
    current = client.get_or_none(path)
    after = _desired(params) if params["state"] == "present" else None

    def write(current, after):
        body = dict(after)
        if params["secure_json_data"]:
            body["secureJsonData"] = params["secure_json_data"]
        if current:
            _status, answer = client.request("PUT", path, body)
        else:
            status, answer = client.request("POST", "/api/datasources", body, allow=(409,))
            if status == 409:
                module.fail_json(msg="conflict (409) creating data source uid=%s: the name %r is "
                                     "already used by another data source; choose another name or "
                                     "delete the other one" % (uid, params["name"]), uid=uid, status=409)
        answer = answer or {}
        return dict(id=answer.get("id") or (answer.get("datasource") or {}).get("id"))

    return reconcile(module, client, path, current,
                     before=normalise_datasource(current) if current else {}, after=after,
                     write=write, refuse=lambda stored: _refuse_read_only(module, uid, stored),
                     # A deleted (or missing) data source has no id.
                     uid=uid, id=current.get("id") if current and after is not None else None)


def main():
    spec = grafana_argument_spec(
        uid=dict(type="str", required=True),
        name=dict(type="str"),
        type=dict(type="str", default="prometheus"),
        ds_url=dict(type="str"),
        access=dict(type="str", choices=["proxy", "direct"], default="proxy"),
        is_default=dict(type="bool", default=False),
        basic_auth_user=dict(type="str"),
        json_data=dict(type="dict", default={}),
        secure_json_data=dict(type="dict", no_log=True),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_if=[("state", "present", ["name"])],
                           required_together=[("url_username", "url_password")])
    run_module(module, run, module.params["uid"])


if __name__ == "__main__":
    main()
