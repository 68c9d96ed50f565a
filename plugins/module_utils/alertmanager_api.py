# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small Alertmanager API v2 client shared by the alertmanager_* modules.

One job: talk to Alertmanager (silences) and turn every failure into an
AlertmanagerError whose message names the problem and the fix without ever
carrying a credential (transport and redaction are http_api's, shared with
grafana_api).
"""

from __future__ import annotations

import datetime
import json
import re
import socket

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible_collections.vps.monitoring.plugins.module_utils.http_api import JsonHttpClient, read_error, redact

# Connection options of every module that talks to Alertmanager.
ALERTMANAGER_COMMON_ARGS = dict(
    url=dict(type="str", required=True),
    token=dict(type="str", no_log=True),
    url_username=dict(type="str"),
    url_password=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=10),
)

_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


class AlertmanagerError(Exception):
    """An API failure with a message that is safe to print."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def parse_time(value):
    """An RFC 3339 time as Alertmanager writes it -> aware UTC datetime (whole seconds)."""
    match = _TIME.match(str(value).strip())
    if not match:
        raise ValueError("%r is not an RFC 3339 time such as 2026-01-31T18:00:00Z" % (value,))
    day, clock, _fraction, zone = match.groups()
    stamp = datetime.datetime.strptime(day + "T" + clock, "%Y-%m-%dT%H:%M:%S")
    offset = datetime.timedelta(0)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return (stamp - offset).replace(tzinfo=datetime.timezone.utc)


def format_time(moment):
    """Aware datetime -> the UTC RFC 3339 form Alertmanager accepts."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def matcher_key(matchers):
    """Order-independent identity of a matcher set (what makes two silences 'the same')."""
    return tuple(sorted((m["name"], m["value"], bool(m.get("isRegex", False)), bool(m.get("isEqual", True)))
                        for m in matchers))


class AlertmanagerClient(JsonHttpClient):
    """Alertmanager API v2 access, optionally through a proxy with basic or bearer auth."""

    def __init__(self, url, token=None, url_username=None, url_password=None,
                 validate_certs=True, timeout=10):
        if not url or not re.match(r"^https?://[^/\s]+", url):
            raise AlertmanagerError("url=%s is not an http(s) URL; set it to Alertmanager's address, "
                                    "for example http://127.0.0.1:9093" % redact(url))
        super().__init__(url, token=token, url_username=url_username, url_password=url_password,
                         validate_certs=validate_certs, timeout=timeout)

    def request(self, method, path, body=None):
        """Send one call; return the decoded JSON (None for an empty body)."""
        where = "%s %s" % (method, path)
        try:
            raw = self._open(method, path, body=body)[1]
        except HTTPError as exc:
            detail = read_error(exc).decode("utf-8", "replace")[:300]
            if exc.code in (401, 403):
                msg = ("Alertmanager (or the proxy in front of it) refused %s with %s: check token or "
                       "url_username/url_password" % (where, exc.code))
            elif exc.code == 400:
                msg = "Alertmanager rejected %s as invalid (400): %s" % (where, detail)
            elif exc.code == 404:
                msg = ("Alertmanager has no %s (404): is url the Alertmanager itself (API v2, "
                       "0.16 or newer), with any path prefix of --web.route-prefix?" % path)
            else:
                msg = "Alertmanager answered %s on %s: %s" % (exc.code, where, detail)
            raise AlertmanagerError(redact(msg, self._secrets()), status=exc.code)
        except (URLError, socket.timeout, ConnectionError, OSError) as exc:
            raise AlertmanagerError(redact(
                "Alertmanager at %s did not answer %s (%s): check that it runs and that url is right"
                % (self.base, where, getattr(exc, "reason", exc)), self._secrets()))
        if not raw:
            return None
        try:
            return json.loads(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)
        except ValueError:
            raise AlertmanagerError("Alertmanager answered %s with something that is not JSON: is url "
                                    "the Alertmanager API?" % where)

    # -- silences ------------------------------------------------------------
    def list_silences(self):
        """Every silence Alertmanager knows (active, pending and expired)."""
        return self.request("GET", "/api/v2/silences") or []

    def post_silence(self, silence):
        """Create (no id) or update (with id) a silence; return its id."""
        answer = self.request("POST", "/api/v2/silences", body=silence) or {}
        return answer.get("silenceID")

    def expire_silence(self, silence_id):
        self.request("DELETE", "/api/v2/silence/%s" % quote(str(silence_id), safe=""))
