# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter rule_groups: compact rule-group variables -> Prometheus rule groups.

Mistakes are caught here, naming the group and rule, before a file is
rendered; promtool then checks the PromQL itself. Docs: rule_groups.yml.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.vps.monitoring.plugins.module_utils.promtool import is_prometheus_duration

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "severity", "labels",
              "summary", "description", "annotations"}
_GROUP_KEYS = {"name", "interval", "limit", "rules"}
_ALERT_ONLY = ("for", "keep_firing_for", "severity", "summary", "description", "annotations")


def _fail(where, problem, fix):
    raise AnsibleFilterError("rule_groups: %s: %s; %s" % (where, problem, fix))


def _duration(where, key, value):
    if not is_prometheus_duration(value):
        _fail(where, "%s=%r is not a Prometheus duration" % (key, value),
              "write it like 30s, 5m, 1h30m or 2d (integer and unit, no spaces)")
    return value


def _string_map(where, key, value):
    if not isinstance(value, dict):
        _fail(where, "%s must be a mapping of name: text, got %s" % (key, type(value).__name__),
              "write %s: {name: value}" % key)
    out = {}
    for name, text in value.items():
        if not isinstance(name, str) or not _LABEL_NAME.match(name):
            _fail(where, "%s name %r is not a valid Prometheus label name" % (key, name),
                  "use letters, digits and underscores, not starting with a digit")
        if not isinstance(text, (str, int, float)) or isinstance(text, bool):
            _fail(where, "%s.%s must be text, got %s" % (key, name, type(text).__name__), "quote the value")
        out[name] = str(text)
    return out


def _rule(group_name, index, rule, seen_alerts):
    where = "group %r, rule %d" % (group_name, index)
    if not isinstance(rule, dict):
        _fail(where, "a rule must be a mapping, got %s" % type(rule).__name__,
              "write {alert: Name, expr: ..., severity: ...} or {record: name, expr: ...}")
    alert, record = rule.get("alert"), rule.get("record")
    if bool(alert) == bool(record):
        _fail(where, "has %s" % ("both alert and record" if alert else "neither alert nor record"),
              "give exactly one: alert: <AlertName> or record: <metric:name>")
    name = alert or record
    where = "group %r, %s %r" % (group_name, "alert" if alert else "record", name)
    if not isinstance(name, str):
        _fail(where, "the name must be a string", "quote it")
    unknown = sorted(set(rule) - _RULE_KEYS)
    if unknown:
        _fail(where, "unknown key(s) %s" % ", ".join(unknown), "allowed keys: %s" % ", ".join(sorted(_RULE_KEYS)))
    expr = rule.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        _fail(where, "expr is missing or empty", "give the PromQL expression as expr: '...'")
    out = {("alert" if alert else "record"): name, "expr": expr.strip()}
    labels = _string_map(where, "labels", rule["labels"]) if rule.get("labels") is not None else {}
    if record:
        if not _METRIC_NAME.match(name):
            _fail(where, "%r is not a valid metric name for a recording rule" % name,
                  "use level:metric:operations style, e.g. job:http_requests:rate5m")
        extra = [k for k in _ALERT_ONLY if rule.get(k) is not None]
        if extra:
            _fail(where, "recording rules take no %s" % ", ".join(extra), "remove them or make it an alert")
        if labels:
            out["labels"] = labels
        return out
    if name in seen_alerts:
        _fail(where, "duplicate alert name within the group", "rename one of the alerts or merge them")
    seen_alerts.add(name)
    for key in ("for", "keep_firing_for"):
        if rule.get(key) is not None:
            out[key] = _duration(where, key, rule[key])
    severity = rule.get("severity", labels.get("severity"))
    if not isinstance(severity, str) or not severity.strip():
        _fail(where, "has no severity", "add severity: critical|warning|info so Alertmanager can route it")
    labels["severity"] = severity
    out["labels"] = labels
    annotations = _string_map(where, "annotations", rule["annotations"]) if rule.get("annotations") else {}
    for key in ("summary", "description"):
        if rule.get(key) is not None:
            annotations[key] = str(rule[key])
    if annotations:
        out["annotations"] = annotations
    return out


def rule_groups(groups):
    """Validate and expand compact rule groups into Prometheus rule groups (a list)."""
    if groups is None:
        return []
    if not isinstance(groups, list):
        _fail("input", "expected a list of groups, got %s" % type(groups).__name__,
              "write a list: - name: <group>\\n  rules: [...]")
    out = []
    seen_groups = set()
    for index, group in enumerate(groups, start=1):
        if not isinstance(group, dict):
            _fail("group %d" % index, "a group must be a mapping", "write {name: ..., rules: [...]}")
        name = group.get("name")
        if not isinstance(name, str) or not name.strip():
            _fail("group %d" % index, "name is missing or empty", "give every group a unique name")
        where = "group %r" % name
        if name in seen_groups:
            _fail(where, "duplicate group name", "group names must be unique; rename or merge the groups")
        seen_groups.add(name)
        unknown = sorted(set(group) - _GROUP_KEYS)
        if unknown:
            _fail(where, "unknown key(s) %s" % ", ".join(unknown), "allowed keys: name, interval, limit, rules")
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            _fail(where, "rules is missing or empty", "give a non-empty list of rules")
        result = {"name": name}
        if group.get("interval") is not None:
            result["interval"] = _duration(where, "interval", group["interval"])
        if group.get("limit") is not None:
            if not isinstance(group["limit"], int) or isinstance(group["limit"], bool) or group["limit"] < 0:
                _fail(where, "limit must be a non-negative integer", "e.g. limit: 100")
            result["limit"] = group["limit"]
        seen_alerts = set()
        result["rules"] = [_rule(name, i, r, seen_alerts) for i, r in enumerate(rules, start=1)]
        out.append(result)
    return out


class FilterModule:
    """Ansible filters of vps.monitoring for alert rules."""

    def filters(self):
        return {"rule_groups": rule_groups}
