# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP part shared by the collection's API clients (grafana_api, alertmanager_api).

One JSON-over-HTTP transport: bearer or basic authentication, no redirects,
no netrc, and one redaction rule set, so that no message of any client ever
carries a credential. Each client keeps its own error wording.
"""

from __future__ import annotations

import base64
import json
import re

from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible.module_utils.urls import open_url

_SECRET_PATTERNS = (
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(bearer|basic)?\s*[^\s,;\"']+"), r"\1<redacted>"),
    (re.compile(r"(?i)\bbearer\s+[^\s,;\"']+"), "Bearer <redacted>"),
    (re.compile(r"\bglsa_[A-Za-z0-9_]+"), "<redacted>"),
    (re.compile(r"(?i)(\"?(?:password|token|key|secret)\"?\s*[:=]\s*\"?)[^\s,;\"'}]+"), r"\1<redacted>"),
    (re.compile(r"(://)[^/@\s]+@"), r"\1<redacted>@"),
)


def redact(text, secrets=()):
    """Remove credentials from text: the known secret values, then anything shaped like one."""
    text = "" if text is None else str(text)
    for secret in secrets:
        if secret:
            text = text.replace(str(secret), "<redacted>")
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


def read_error(exc):
    """The body of an HTTPError, or b"" when it has none."""
    try:
        return exc.read()
    except Exception:  # noqa: BLE001 - a body-less error is still an error
        return b""


class JsonHttpClient:
    """Base URL, credentials and the one request call of a JSON API client."""

    def __init__(self, url, token=None, url_username=None, url_password=None,
                 validate_certs=True, timeout=10, ca_path=None):
        self.base = url.rstrip("/")
        self.token = token
        self.username = url_username
        self.password = url_password
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout

    def _secrets(self):
        return [s for s in (self.token, self.password) if s]

    def _headers(self):
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        elif self.username and self.password:
            raw = ("%s:%s" % (self.username, self.password)).encode("utf-8")
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        return headers

    def _open(self, method, path, body=None, query=None):
        """One call; returns (status, raw body). HTTPError and URLError are the caller's."""
        url = self.base + path
        if query:
            url += "?" + urlencode(query, doseq=True)
        resp = open_url(url, data=None if body is None else json.dumps(body), headers=self._headers(),
                        method=method, validate_certs=self.validate_certs, ca_path=self.ca_path,
                        timeout=self.timeout, follow_redirects="none", force_basic_auth=False,
                        use_netrc=False)
        return resp.getcode(), resp.read()
