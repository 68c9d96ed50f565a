#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: grafana_service_account_token
short_description: Keep a working Grafana service-account token in a file on the host
version_added: 0.2.0
description:
  - Grafana shows a service-account token only once, when it is created. This module keeps one
    in O(token_file) (mode 0600) and returns it, so the other grafana_* modules can use it.
  - A token given in O(token), or else the stored one, that Grafana still accepts is reused, and
    nothing changes. Otherwise the
    service account O(name) is found or created with the admin credentials (O(url_username),
    O(url_password)), a new token is created for it and stored.
  - The returned token is a secret; set C(no_log) on the task that registers it.
author: vps.monitoring maintainers (@vps-monitoring)
extends_documentation_fragment: [vps.monitoring.grafana]
attributes:
  diff_mode:
    description: Not supported; the token is never shown.
    support: none
options:
  name:
    description: Service account name; tokens are named after it and the creation time.
    type: str
    required: true
  role:
    description: Role of a service account this module creates.
    type: str
    choices: [Viewer, Editor, Admin]
    default: Admin
  token_file:
    description: Where the token is kept on the host (created with mode 0600, parent 0750).
    type: path
    required: true
  state:
    # type, choices and default come from the vps.monitoring.grafana fragment.
    description: V(present) only; tokens are revoked in Grafana's UI or API.
    choices: [present]
"""

EXAMPLES = r"""
- name: A token for the API modules, created once and reused
  vps.monitoring.grafana_service_account_token:
    url: http://127.0.0.1:3000
    url_username: admin
    url_password: "{{ grafana_admin_password }}"
    name: vps-monitoring
    token_file: /opt/vps-monitoring/grafana/config/api-token
  register: grafana_sa
  no_log: true
"""

RETURN = r"""
token:
  description: The working token (empty in check mode when one would be created).
  returned: success
  type: str
service_account_id:
  description: Id of the service account, when the module looked it up or created it.
  returned: when a token was created
  type: int
created:
  description: Whether a new token was (or in check mode would be) created.
  returned: success
  type: bool
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vps.monitoring.plugins.module_utils.grafana_api import (
    GRAFANA_COMMON_ARGS, GrafanaClient, GrafanaError, grafana_argument_spec)


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return ""


def _connection(module, **override):
    options = {k: module.params[k] for k in GRAFANA_COMMON_ARGS}
    options.update(override)
    return GrafanaClient(**options)


def stored_token_works(module, token):
    """True when Grafana accepts the stored token (401 means it was revoked or is wrong)."""
    if not token:
        return False
    client = _connection(module, token=token, url_username=None, url_password=None)
    status, _payload = client.request("GET", "/api/search", query={"limit": 1}, allow=(401, 403))
    return status == 200


def service_account_id(client, name, role, check_mode):
    """Id of the service account ``name``, created when missing (None in check mode)."""
    _status, found = client.request("GET", "/api/serviceaccounts/search", query={"query": name})
    for account in (found or {}).get("serviceAccounts", []):
        if account.get("name") == name:
            return account["id"]
    if check_mode:
        return None
    _status, created = client.request("POST", "/api/serviceaccounts", body={"name": name, "role": role})
    return created["id"]


def write_token(path, token):
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, 0o750)
    fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.replace(path + ".new", path)


def run(module):
    params = module.params
    # A token given to the module (grafana_api_token) wins over the stored one.
    for token in (params["token"], _read(params["token_file"])):
        if stored_token_works(module, token):
            return dict(changed=False, created=False, token=token)
    if not (params["url_username"] and params["url_password"]):
        raise GrafanaError("the token in token_file=%s is missing or no longer accepted, and no "
                           "url_username/url_password are given to create a new one"
                           % params["token_file"])
    admin = _connection(module, token=None)
    account = service_account_id(admin, params["name"], params["role"], module.check_mode)
    if module.check_mode:
        return dict(changed=True, created=True, token="", service_account_id=account)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    _status, created = admin.request("POST", "/api/serviceaccounts/%s/tokens" % account,
                                     body={"name": "%s-%s" % (params["name"], stamp)})
    write_token(params["token_file"], created["key"])
    return dict(changed=True, created=True, token=created["key"], service_account_id=account)


def main():
    spec = grafana_argument_spec(
        name=dict(type="str", required=True),
        role=dict(type="str", choices=["Viewer", "Editor", "Admin"], default="Admin"),
        token_file=dict(type="path", required=True, no_log=False),
    )
    spec["state"] = dict(type="str", choices=["present"], default="present")
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        result = run(module)
    except GrafanaError as exc:
        module.fail_json(msg=str(exc), status=exc.status)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
