# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lookup plugin: run PromQL queries against the Prometheus HTTP API."""

from __future__ import annotations

DOCUMENTATION = r"""
name: prometheus_query
author: vps.monitoring maintainers (@vps-monitoring)
version_added: "0.1.0"
short_description: Run PromQL instant or range queries against Prometheus
description:
  - Sends each term as a PromQL query to C(/api/v1/query) (instant) or C(/api/v1/query_range)
    (range, when O(start) is given) and returns the C(data.result) list of each.
  - Fails with a message naming the URL and query for connection failures, timeouts,
    HTTP errors and Prometheus error payloads. Credentials never appear in messages.
options:
  _terms:
    description: PromQL expressions.
    required: true
    type: list
    elements: str
  url:
    description: Prometheus base URL.
    type: str
    default: http://127.0.0.1:9090
  time:
    description: Evaluation time of an instant query (RFC 3339 or Unix timestamp); default now.
    type: str
  start:
    description: Start of a range query (RFC 3339 or Unix timestamp). Setting it makes the query a range query.
    type: str
  end:
    description: End of a range query; default now.
    type: str
  step:
    description: Resolution of a range query (duration such as C(60s) or seconds).
    type: str
    default: 60s
  timeout:
    description: Seconds to wait for Prometheus (sent as the query timeout too).
    type: float
    default: 10
  username:
    description: Basic auth user.
    type: str
  password:
    description: Basic auth password. Never shown.
    type: str
  bearer_token:
    description: Sent as C(Authorization Bearer). Never shown.
    type: str
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
notes:
  - With O(start) the result of each term is a matrix (C(values) lists); otherwise a vector or scalar.
"""

EXAMPLES = r"""
- name: Tokens per model
  ansible.builtin.debug:
    msg: "{{ lookup('vps.monitoring.prometheus_query', 'sum by (model) (claude_code_token_usage_tokens_total)') }}"

- name: Cost over the last hour, one point per 5 minutes
  ansible.builtin.set_fact:
    cost: >-
      {{ lookup('vps.monitoring.prometheus_query', 'sum(claude_code_cost_usage_USD_total)',
                url='http://127.0.0.1:9090', start=(now(utc=true).timestamp() - 3600) | int, step='300s') }}
"""

RETURN = r"""
_list:
  description:
    - One entry per term, the C(data.result) of Prometheus's answer (list of C(metric) and
      C(value) or C(values)). Use C(wantlist=true) or C(query) to always get a list of lists.
  type: list
  elements: raw
"""

import base64
import json
import socket
import time as _time
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible.errors import AnsibleLookupError
from ansible.module_utils.urls import open_url
from ansible.plugins.lookup import LookupBase


def _describe_error_body(body: bytes) -> str:
    try:
        payload = json.loads(body)
        return f"{payload.get('errorType', 'error')}: {payload.get('error', '')}".strip()
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace").strip()


def query_prometheus(url: str, expr: str, *, time=None, start=None, end=None, step="60s",
                     timeout: float = 10.0, headers: dict | None = None,
                     validate_certs: bool = True) -> list:
    """Run one query and return data.result; raise AnsibleLookupError with a clear message."""
    # Prometheus durations take integers only ("10.0s" is refused).
    params = {"query": expr, "timeout": f"{max(1, int(timeout * 1000))}ms"}
    if start is not None:
        endpoint = "/api/v1/query_range"
        params.update(start=str(start), step=str(step))
        params["end"] = str(end if end is not None else _time.time())
    else:
        endpoint = "/api/v1/query"
        if time is not None:
            params["time"] = str(time)
    target = url.rstrip("/") + endpoint
    where = f"Prometheus at {url} for query {expr!r}"
    try:
        response = open_url(target, data=urlencode(params), method="POST", timeout=timeout,
                            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
                            validate_certs=validate_certs, follow_redirects="safe")
        body = response.read()
    except HTTPError as exc:
        detail = _describe_error_body(exc.read() or b"")
        hint = " (check username/password or bearer_token)" if exc.code in (401, 403) else ""
        raise AnsibleLookupError(f"{where}: HTTP {exc.code} {detail}{hint}") from None
    except (socket.timeout, TimeoutError) as exc:
        raise AnsibleLookupError(f"{where}: no answer within {timeout}s ({exc})") from None
    except (URLError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AnsibleLookupError(f"cannot reach {where}: {reason}") from None
    try:
        payload = json.loads(body)
    except ValueError:
        raise AnsibleLookupError(f"{where}: answer is not JSON (is {url} a Prometheus?)") from None
    if not isinstance(payload, dict) or payload.get("status") != "success":
        detail = _describe_error_body(body) if isinstance(payload, dict) else "unexpected answer"
        raise AnsibleLookupError(f"{where}: {detail}")
    return payload.get("data", {}).get("result", [])


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        headers = {}
        token = self.get_option("bearer_token")
        user, password = self.get_option("username"), self.get_option("password")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user:
            raw = f"{user}:{password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return [
            query_prometheus(
                self.get_option("url"), term, time=self.get_option("time"),
                start=self.get_option("start"), end=self.get_option("end"),
                step=self.get_option("step"), timeout=float(self.get_option("timeout")),
                headers=headers, validate_certs=self.get_option("validate_certs"))
            for term in terms
        ]
