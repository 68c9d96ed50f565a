#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: alertmanager_silence
short_description: Create, update and expire Alertmanager silences by matcher set
version_added: 0.2.0
description:
  - Manages silences through Alertmanager's API v2 (C(GET/POST /api/v2/silences),
    C(DELETE /api/v2/silence/{id})), so planned maintenance is code instead of clicks.
  - A silence is identified by its set of matchers (order does not matter). With
    O(state=present) the active or pending silence with exactly these matchers is
    updated when its comment, author or end differ, or created when there is none;
    running the same task again changes nothing.
  - O(state=absent) expires every active or pending silence with exactly these matchers.
  - Credentials for a proxy in front of Alertmanager are never printed; errors are redacted.
author: vps.monitoring maintainers (@vps-monitoring)
attributes:
  check_mode:
    support: full
    description: Reports what would be created, updated or expired without writing.
  diff_mode:
    support: full
    description: Before and after are the silence's matchers, comment, createdBy, startsAt and endsAt.
options:
  url:
    description: Base URL of Alertmanager, for example V(http://127.0.0.1:9093).
    type: str
    required: true
  token:
    description: Bearer token for a proxy in front of Alertmanager. Never printed.
    type: str
  url_username:
    description: User for basic auth at a proxy in front of Alertmanager.
    type: str
  url_password:
    description: Password for basic auth. Never printed.
    type: str
  validate_certs:
    description: Verify the TLS certificate of an V(https) URL.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for one HTTP answer.
    type: int
    default: 10
  matchers:
    description: The matchers; the silence mutes alerts that match all of them.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Label name.
        type: str
        required: true
      value:
        description: Label value (a regular expression when O(matchers[].is_regex=true)).
        type: str
        required: true
      is_regex:
        description: Match O(matchers[].value) as an anchored regular expression.
        type: bool
        default: false
      is_equal:
        description: V(false) negates the matcher (C(!=) or C(!~)).
        type: bool
        default: true
  comment:
    description: Why the alerts are silenced. Required with O(state=present).
    type: str
  created_by:
    description: Author recorded with the silence.
    type: str
    default: ansible
  duration:
    description:
      - How long the silence lasts from its start, as a Prometheus duration (V(2h), V(30m), V(1d)).
      - An existing silence keeps its start, so re-running the task does not extend it; change
        O(duration) or use O(ends_at) to move the end.
      - Mutually exclusive with O(ends_at); one of them is required with O(state=present).
    type: str
  starts_at:
    description: Start as an RFC 3339 time (V(2026-01-31T22:00:00Z)); default now for a new silence.
    type: str
  ends_at:
    description: End as an RFC 3339 time (V(2026-02-01T02:00:00+01:00)).
    type: str
  state:
    description: V(present) creates or updates the silence; V(absent) expires it.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: Silence the backup host during its maintenance window
  vps.monitoring.alertmanager_silence:
    url: http://127.0.0.1:9093
    matchers:
      - {name: instance, value: "backup:9100"}
      - {name: alertname, value: "Host.*", is_regex: true}
    comment: Disk replacement, ticket OPS-42
    duration: 2h

- name: End that silence early
  vps.monitoring.alertmanager_silence:
    url: http://127.0.0.1:9093
    matchers:
      - {name: instance, value: "backup:9100"}
      - {name: alertname, value: "Host.*", is_regex: true}
    state: absent
"""

RETURN = r"""
silence_id:
  description: Id of the silence created or updated (null when absent or in check mode for a new one).
  returned: always
  type: str
  sample: 5c4d8b0e-1f2a-4b6e-9d3c-7a8b9c0d1e2f
expired:
  description: Ids of the silences expired by this run (duplicates of the matcher set included).
  returned: always
  type: list
  elements: str
  sample: []
silence:
  description: The silence as sent to Alertmanager (null for O(state=absent)).
  returned: always
  type: dict
  sample: {matchers: [{name: instance, value: "backup:9100", isRegex: false, isEqual: true}],
           comment: Disk replacement, createdBy: ansible,
           startsAt: "2026-01-31T22:00:00Z", endsAt: "2026-02-01T00:00:00Z"}
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vps.monitoring.plugins.module_utils.alertmanager_api import (
    ALERTMANAGER_COMMON_ARGS, AlertmanagerClient, AlertmanagerError, format_time, matcher_key, parse_time)
from ansible_collections.vps.monitoring.plugins.module_utils.promtool import prometheus_duration_seconds

LIVE_STATES = ("active", "pending")
# Seconds of clock difference tolerated between a duration's end and the stored end.
END_SLACK = 5


def _matchers(params):
    return [{"name": m["name"], "value": m["value"], "isRegex": bool(m.get("is_regex")),
             "isEqual": m.get("is_equal", True) is not False} for m in params]


def _view(silence):
    """The fields this module manages, comparable and printable."""
    if not silence:
        return {}
    return {
        "matchers": sorted(silence["matchers"], key=lambda m: (m["name"], m["value"])),
        "comment": silence.get("comment", ""),
        "createdBy": silence.get("createdBy", ""),
        "startsAt": format_time(parse_time(silence["startsAt"])),
        "endsAt": format_time(parse_time(silence["endsAt"])),
    }


def run(params, client, check_mode, now):
    """Reconcile one silence; return the module result (with a diff)."""
    wanted = _matchers(params["matchers"])
    key = matcher_key(wanted)
    same = [s for s in client.list_silences()
            if s.get("status", {}).get("state") in LIVE_STATES and matcher_key(s["matchers"]) == key]
    # The newest one is managed; any other live silence with this matcher set is a duplicate.
    same.sort(key=lambda s: s.get("updatedAt") or s.get("startsAt") or "", reverse=True)
    current = same[0] if same else None
    result = {"changed": False, "silence_id": current["id"] if current else None, "expired": [],
              "silence": None}

    if params["state"] == "absent":
        expire = [s["id"] for s in same]
        before = _view(current)
        after = {}
    else:
        expire = [s["id"] for s in same[1:]]
        current_start = parse_time(current["startsAt"]) if current else None
        if current_start is not None and current_start <= now:
            # An active silence's start is history: Alertmanager cannot move it.
            start = current_start
        elif params["starts_at"]:
            start = parse_time(params["starts_at"])
        else:
            start = current_start or now
        if params["ends_at"]:
            end = parse_time(params["ends_at"])
        else:
            end = start + datetime.timedelta(seconds=prometheus_duration_seconds(params["duration"]))
            # Alertmanager stamps a new silence with its own clock, a moment
            # after ours: an end within END_SLACK of the stored one is the same.
            if current and abs((end - parse_time(current["endsAt"])).total_seconds()) <= END_SLACK:
                end = parse_time(current["endsAt"])
        if end <= now or end <= start:
            raise AlertmanagerError("the silence would end at %s, before it starts or in the past: "
                                    "use a later ends_at or a longer duration" % format_time(end))
        desired = {"matchers": wanted, "comment": params["comment"], "createdBy": params["created_by"],
                   "startsAt": format_time(start), "endsAt": format_time(end)}
        before = _view(current)
        after = _view(desired)
        result["silence"] = desired
        if before != after:
            result["changed"] = True
            if not check_mode:
                body = dict(desired, id=current["id"]) if current else desired
                result["silence_id"] = client.post_silence(body)
            elif not current:
                result["silence_id"] = None
    if expire:
        result["changed"] = True
        result["expired"] = expire
        if not check_mode:
            for silence_id in expire:
                client.expire_silence(silence_id)
    if params["state"] == "absent":
        result["silence_id"] = None
    result["diff"] = {"before": before, "after": after}
    return result


def main():
    spec = dict(ALERTMANAGER_COMMON_ARGS)
    spec.update(
        matchers=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            value=dict(type="str", required=True),
            is_regex=dict(type="bool", default=False),
            is_equal=dict(type="bool", default=True),
        )),
        comment=dict(type="str"),
        created_by=dict(type="str", default="ansible"),
        duration=dict(type="str"),
        starts_at=dict(type="str"),
        ends_at=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleModule(
        argument_spec=spec, supports_check_mode=True,
        mutually_exclusive=[("duration", "ends_at")],
        required_if=[("state", "present", ("comment",)),
                     ("state", "present", ("duration", "ends_at"), True)])
    params = module.params
    if not params["matchers"]:
        module.fail_json(msg="matchers is empty: a silence without matchers would mute every alert; "
                             "give at least one, for example [{name: alertname, value: HostRebooted}]")
    try:
        if params["duration"] is not None:
            prometheus_duration_seconds(params["duration"])
        for option in ("starts_at", "ends_at"):
            if params[option]:
                parse_time(params[option])
    except ValueError as exc:
        module.fail_json(msg="%s; durations look like 2h or 30m, times like 2026-01-31T22:00:00Z" % exc)
    try:
        client = AlertmanagerClient(**{k: params[k] for k in ALERTMANAGER_COMMON_ARGS})
        result = run(params, client, module.check_mode,
                     datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0))
    except AlertmanagerError as exc:
        module.fail_json(msg=str(exc), status=exc.status)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
