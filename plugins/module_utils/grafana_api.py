# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small Grafana HTTP API client shared by the grafana_* modules.

One job: talk to Grafana and turn every failure into a GrafanaError whose
message names the problem and the fix without ever carrying a credential.
The comparison helpers (normalise_*) live here too because the modules and
the tests must agree on what "unchanged" means, and so does reconcile(), the
compare/check-mode/diff/write run that the modules would otherwise repeat.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible_collections.vps.monitoring.plugins.module_utils.http_api import (  # noqa: F401 - redact is this module's API too
    JsonHttpClient, read_error, redact)

# Connection options, passed on to GrafanaClient; every grafana_* module has them.
GRAFANA_COMMON_ARGS = dict(
    url=dict(type="str", required=True, aliases=["grafana_url"]),
    token=dict(type="str", no_log=True, aliases=["grafana_api_key"]),
    url_username=dict(type="str", aliases=["grafana_user"]),
    url_password=dict(type="str", no_log=True, aliases=["grafana_password"]),
    validate_certs=dict(type="bool", default=True),
    ca_path=dict(type="path"),
    timeout=dict(type="int", default=10),
    wait_timeout=dict(type="int", default=60),
)

# Statuses that mean "Grafana is still starting or restarting": retried
# until the deadline rather than reported at once.
RETRY_STATUSES = (502, 503, 504)

# Fields Grafana adds or bumps on every save; they never mean the user's
# dashboard differs from the stored one.
DASHBOARD_SERVER_FIELDS = ("id", "version", "iteration")


class GrafanaError(Exception):
    """An API failure with a message that is safe to print."""

    def __init__(self, message, status=None, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


class GrafanaClient(JsonHttpClient):
    """Grafana API access with token or basic auth and a start-up deadline."""

    def __init__(self, url, token=None, url_username=None, url_password=None,
                 validate_certs=True, ca_path=None, timeout=10, wait_timeout=60,
                 sleep=time.sleep, clock=time.monotonic):
        if not url or not re.match(r"^https?://", url):
            raise GrafanaError("url=%s is not an http(s) URL; set it to Grafana's address, "
                               "for example http://127.0.0.1:3000" % redact(url))
        if not token and not (url_username and url_password):
            raise GrafanaError("no credentials: set token (a service-account token) "
                               "or url_username and url_password")
        super().__init__(url, token=token, url_username=url_username, url_password=url_password,
                         validate_certs=validate_certs, timeout=timeout, ca_path=ca_path)
        self.wait_timeout = wait_timeout
        self._sleep = sleep
        self._clock = clock
        self.calls = 0

    # -- transport ---------------------------------------------------------
    def request(self, method, path, body=None, query=None, allow=()):
        """Send one call; return (status, decoded JSON or None).

        Statuses listed in ``allow`` are returned to the caller (404 when
        probing for existence, 409/412 when the caller words the conflict);
        every other 4xx/5xx raises GrafanaError. Connection refused and
        502/503/504 are retried until ``wait_timeout`` seconds have passed,
        because Grafana answers that way while it starts.
        """
        deadline = self._clock() + self.wait_timeout
        while True:
            self.calls += 1
            try:
                status, raw = self._open(method, path, body=body, query=query)
                return status, _decode(raw)
            except HTTPError as exc:
                status = exc.code
                payload = _decode(read_error(exc))
                if status in RETRY_STATUSES and self._clock() < deadline:
                    self._sleep(1)
                    continue
                if status in allow:
                    return status, payload
                raise self._http_error(method, path, status, payload)
            except (URLError, socket.timeout, ConnectionError, OSError) as exc:
                if self._clock() < deadline:
                    self._sleep(1)
                    continue
                reason = getattr(exc, "reason", exc)
                raise GrafanaError(redact(
                    "Grafana at %s did not answer within wait_timeout=%ss (%s): check that it "
                    "runs and that url is right" % (self.base, self.wait_timeout, reason),
                    self._secrets()))

    def _http_error(self, method, path, status, payload):
        detail = _message(payload)
        where = "%s %s" % (method, path)
        if status == 401:
            msg = ("Grafana rejected the credentials (401 Unauthorized) on %s: the token or "
                   "url_username/url_password is wrong or expired" % where)
        elif status == 403:
            msg = ("Grafana refused %s (403 Forbidden: %s): the account lacks permission or "
                   "the object is read-only" % (where, detail))
        elif status == 404:
            msg = "Grafana has no such object (404 Not Found) on %s: %s" % (where, detail)
        elif status in (409, 412):
            msg = ("conflict (%s) on %s: %s; the object was changed in Grafana since the "
                   "version you sent, or its name is taken" % (status, where, detail))
        elif status >= 500:
            msg = "Grafana failed with a server error (%s) on %s: %s" % (status, where, detail)
        else:
            msg = "Grafana answered %s on %s: %s" % (status, where, detail)
        return GrafanaError(redact(msg, self._secrets()), status=status, body=payload)

    # -- helpers -------------------------------------------------------------
    def get_or_none(self, path):
        status, payload = self.request("GET", path, allow=(404,))
        return None if status == 404 else payload

    @staticmethod
    def q(value):
        return quote(str(value), safe="")


def _decode(raw):
    if not raw:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        return json.loads(raw)
    except ValueError:
        return {"message": raw[:200]}


def _message(payload):
    if isinstance(payload, dict):
        return payload.get("message") or payload.get("status") or json.dumps(payload)[:200]
    return str(payload)[:200] if payload else "no details"


# -- normalisation -------------------------------------------------------------
def unwrap_dashboard(value):
    """Accept a bare dashboard or an export/API wrapper {dashboard, meta}."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise GrafanaError("dashboard must be a JSON object, got %s" % type(value).__name__)
    if "dashboard" in value and isinstance(value["dashboard"], dict):
        value = value["dashboard"]
    return copy.deepcopy(value)


def normalise_dashboard(dashboard):
    """The part of a dashboard that the user owns: server-set fields removed."""
    result = {k: v for k, v in dashboard.items()
              if k not in DASHBOARD_SERVER_FIELDS and v is not None}
    result.pop("meta", None)
    return result


def normalise_folder_uid(value):
    # The General (root) folder is "" in meta and absent in requests.
    return value or ""


# Fields of GET /api/datasources/uid/{uid} that the module manages; the
# rest (id, orgId, version, readOnly, typeLogoUrl, secureJsonFields...) is
# server state.
DATASOURCE_FIELDS = ("uid", "name", "type", "access", "url", "isDefault", "basicAuth",
                     "basicAuthUser", "jsonData")


def normalise_datasource(datasource):
    result = {}
    for field in DATASOURCE_FIELDS:
        value = datasource.get(field)
        if field in ("isDefault", "basicAuth"):
            value = bool(value)
        elif field == "jsonData":
            value = dict(value or {})
        elif value is None:
            value = ""
        result[field] = value
    return result


# -- module plumbing: what every grafana_* module would otherwise repeat ---------
def grafana_argument_spec(**options):
    """A grafana_* module's argument_spec: the connection options, state and its own ``options``.

    The vps.monitoring.grafana doc fragment documents all but the module's own.
    """
    spec = dict(GRAFANA_COMMON_ARGS, state=dict(type="str", choices=["present", "absent"], default="present"))
    spec.update(options)
    return spec


def run_module(module, run, uid):
    """Call ``run(module, client)`` with a client built from the connection options, then exit.

    A GrafanaError fails the module with its credential-free message; the
    diff stays in the result only in diff mode.
    """
    try:
        client = GrafanaClient(**{k: module.params[k] for k in GRAFANA_COMMON_ARGS})
        result = run(module, client)
    except GrafanaError as exc:
        module.fail_json(msg=str(exc), status=exc.status, uid=uid)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


def reconcile(module, client, path, current, before, after, write, refuse=None, **facts):
    """Bring one Grafana object, found at ``path``, to the desired state.

    ``current`` is what GET ``path`` returned (None when missing), ``before``
    and ``after`` the managed fields as stored and as wanted; ``after`` None
    means delete the object at ``path``. ``refuse(current)`` fails the module
    when the stored object must not be changed through the API (provisioned).
    ``write(current, after)`` creates or updates it and returns the facts
    Grafana answered; it is never called in check mode, which only reports.
    ``facts`` (uid, id, version...) are returned as given unless a write
    replaces them. The result carries a diff; the module drops it when
    diff mode is off.

    grafana_dashboard keeps its own run: one POST both creates and updates,
    the desired folder depends on the stored one, and its result names the
    URL only when Grafana answered one.
    """
    result = dict(facts, changed=False)
    if after is None:
        if not current:
            return result
        if refuse:
            refuse(current)
        if not module.check_mode:
            client.request("DELETE", path)
        return dict(result, changed=True, diff=dict(before=before, after={}))
    if before == after:
        return result
    if current and refuse:
        refuse(current)
    result.update(changed=True, diff=dict(before=before, after=after))
    if not module.check_mode:
        result.update(write(current, after))
    return result
