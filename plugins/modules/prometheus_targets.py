#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: prometheus_targets
short_description: Wait until every Prometheus scrape target is healthy
version_added: "0.1.0"
description:
  - Polls Prometheus' C(/api/v1/targets) until every active target has health C(up) and every job in
    O(expected_jobs) has at least one target, or until O(timeout) passes.
  - On timeout it fails listing each unhealthy target (job, instance, health, lastError) and each
    expected job without a target.
  - Read-only, so it runs in check mode too. Credentials are never printed.
author:
  - vps.monitoring maintainers (@vps-monitoring)
options:
  url:
    description: Base URL of Prometheus (without C(/api/v1/targets)).
    type: str
    default: http://127.0.0.1:9090
  expected_jobs:
    description: Jobs that must each have at least one active target.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds to keep polling before failing (the deadline for the whole wait).
    type: int
    default: 120
  interval:
    description: Seconds between two polls.
    type: float
    default: 2
  headers:
    description: Extra HTTP headers (for example an C(Authorization) header for a reverse proxy).
    type: dict
    default: {}
  url_username:
    description: Username for HTTP basic authentication.
    type: str
  url_password:
    description: Password for HTTP basic authentication.
    type: str
  validate_certs:
    description: Verify the server's TLS certificate for https URLs.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Only queries Prometheus; waits and reports the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff.
notes:
  - A target that has not been scraped yet (health C(unknown)) is waited for, not reported as failed,
    until the deadline.
"""

EXAMPLES = r"""
- name: Wait until every scrape target is up
  vps.monitoring.prometheus_targets:
    url: http://127.0.0.1:9090
    expected_jobs: [prometheus, node-exporter, alertmanager]
    timeout: 120
"""

RETURN = r"""
targets:
  description: The active targets as last seen.
  returned: always
  type: list
  elements: dict
  sample:
    - job: node-exporter
      instance: node-exporter:9100
      health: up
      last_error: ""
      scrape_url: http://node-exporter:9100/metrics
missing_jobs:
  description: Expected jobs without any active target at the last poll.
  returned: always
  type: list
  elements: str
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
"""

import json
import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import open_url


def summarise(payload):
    """Active targets of a /api/v1/targets payload as small dicts."""
    if not isinstance(payload, dict) or payload.get("status") != "success":
        raise ValueError("not a successful Prometheus API answer: %s" % to_text(json.dumps(payload))[:300])
    targets = []
    for item in (payload.get("data") or {}).get("activeTargets") or []:
        labels = item.get("labels") or {}
        targets.append({
            "job": labels.get("job") or item.get("scrapePool") or "",
            "instance": labels.get("instance") or "",
            "health": item.get("health") or "unknown",
            "last_error": item.get("lastError") or "",
            "scrape_url": item.get("scrapeUrl") or "",
        })
    return sorted(targets, key=lambda t: (t["job"], t["instance"]))


def evaluate(targets, expected_jobs):
    """(healthy, unhealthy targets, missing jobs) for one poll."""
    present = set(t["job"] for t in targets)
    missing = [job for job in expected_jobs if job not in present]
    unhealthy = [t for t in targets if t["health"] != "up"]
    return (not unhealthy and not missing), unhealthy, missing


def failure_message(unhealthy, missing, timeout):
    lines = ["Prometheus scrape targets not healthy after %ss:" % timeout]
    for target in unhealthy:
        lines.append("- job=%s instance=%s health=%s lastError=%s" % (
            target["job"], target["instance"], target["health"], target["last_error"] or "(none)"))
    for job in missing:
        lines.append("- job=%s: no active target (is the job in scrape_configs and its component enabled?)" % job)
    return "\n".join(lines)


def safe_url(url):
    """The URL without any user:password@ part, for messages."""
    return re.sub(r"//[^/@]*@", "//", url)


def fetch_targets(params):
    api = params["url"].rstrip("/") + "/api/v1/targets?state=active"
    response = open_url(api, headers=params["headers"], url_username=params["url_username"],
                        url_password=params["url_password"], force_basic_auth=bool(params["url_username"]),
                        validate_certs=params["validate_certs"], timeout=max(1, min(10, params["timeout"])))
    return summarise(json.loads(to_text(response.read())))


def wait_for_targets(params, clock=time.monotonic, sleep=time.sleep, fetch=fetch_targets):
    """Poll until healthy or the deadline; returns (ok, targets, unhealthy, missing, elapsed, last_error)."""
    start = clock()
    deadline = start + params["timeout"]
    targets, unhealthy, missing, last_error = [], [], list(params["expected_jobs"]), None
    while True:
        try:
            targets = fetch(params)
            last_error = None
            ok, unhealthy, missing = evaluate(targets, params["expected_jobs"])
            if ok:
                return True, targets, [], [], clock() - start, None
        except Exception as exc:  # connection refused while Prometheus starts, bad JSON, HTTP errors
            last_error = to_text(exc)
        if clock() + params["interval"] > deadline:
            return False, targets, unhealthy, missing, clock() - start, last_error
        sleep(params["interval"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default="http://127.0.0.1:9090"),
            expected_jobs=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=120),
            interval=dict(type="float", default=2),
            headers=dict(type="dict", default={}, no_log=True),
            url_username=dict(type="str"),
            url_password=dict(type="str", no_log=True),
            validate_certs=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] < 0 or params["interval"] <= 0:
        module.fail_json(msg="timeout must be >= 0 and interval > 0 (seconds)")
    ok, targets, unhealthy, missing, elapsed, last_error = wait_for_targets(params)
    result = dict(changed=False, targets=targets, missing_jobs=missing, elapsed=round(elapsed, 2))
    if ok:
        module.exit_json(**result)
    if last_error is not None:
        module.fail_json(msg="cannot read scrape targets from %s after %ss: %s" % (
            safe_url(params["url"]), params["timeout"], last_error.replace(params["url"], safe_url(params["url"]))),
            **result)
    module.fail_json(msg=failure_message(unhealthy, missing, params["timeout"]), **result)


if __name__ == "__main__":
    main()
