"""The rule_groups filter and the prometheus_duration test plugin."""

from __future__ import annotations

import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vps.monitoring.plugins.filter.rule_groups import FilterModule, rule_groups
from ansible_collections.vps.monitoring.plugins.test.prometheus_duration import TestModule as DurationTests

GOOD = [{
    "name": "backups",
    "interval": "1m",
    "rules": [
        {"alert": "BackupTooOld", "expr": " time() - backup_ts > 86400 ", "for": "15m",
         "keep_firing_for": "5m", "severity": "warning", "labels": {"team": "ops"},
         "summary": "Backup on {{ $labels.instance }} is old", "description": "age {{ $value | humanizeDuration }}",
         "annotations": {"runbook_url": "https://example.invalid/runbook"}},
        {"record": "job:backup_age_seconds:max", "expr": "max by (job) (time() - backup_ts)"},
    ],
}]


def test_expands_compact_rules():
    (group,) = rule_groups(copy.deepcopy(GOOD))
    assert group["name"] == "backups" and group["interval"] == "1m"
    alert, record = group["rules"]
    assert alert == {
        "alert": "BackupTooOld", "expr": "time() - backup_ts > 86400", "for": "15m", "keep_firing_for": "5m",
        "labels": {"team": "ops", "severity": "warning"},
        "annotations": {"runbook_url": "https://example.invalid/runbook",
                        "summary": "Backup on {{ $labels.instance }} is old",
                        "description": "age {{ $value | humanizeDuration }}"},
    }
    assert record == {"record": "job:backup_age_seconds:max", "expr": "max by (job) (time() - backup_ts)"}
    assert FilterModule().filters()["rule_groups"] is rule_groups


def test_severity_may_come_from_labels():
    (group,) = rule_groups([{"name": "g", "rules": [{"alert": "A", "expr": "up", "labels": {"severity": "info"}}]}])
    assert group["rules"][0]["labels"] == {"severity": "info"}


def _broken(**changes):
    groups = copy.deepcopy(GOOD)
    rule = groups[0]["rules"][0]
    for key, value in changes.items():
        if value is None:
            rule.pop(key, None)
        else:
            rule[key] = value
    return groups


@pytest.mark.parametrize("groups, expected", [
    (_broken(expr=None), ["'backups'", "'BackupTooOld'", "expr is missing"]),
    (_broken(record="x:y"), ["'backups'", "rule 1", "both alert and record"]),
    (_broken(alert=None), ["'backups'", "rule 1", "neither alert nor record"]),
    (_broken(severity=None), ["'BackupTooOld'", "has no severity", "severity: critical"]),
    (_broken(**{"for": "5 minutes"}), ["'BackupTooOld'", "for='5 minutes'", "30s, 5m"]),
    (_broken(keep_firing_for="1 hour"), ["keep_firing_for='1 hour'"]),
    (_broken(labels={"bad-label": "x"}), ["'bad-label'", "label name"]),
    (_broken(sevrity="warning"), ["unknown key(s) sevrity"]),
    ([{"name": "g", "interval": "1 hour", "rules": GOOD[0]["rules"]}], ["group 'g'", "interval='1 hour'"]),
    ([{"rules": GOOD[0]["rules"]}], ["group 1", "name is missing"]),
    ([{"name": "g", "rules": []}], ["group 'g'", "rules is missing or empty"]),
    (GOOD + GOOD, ["group 'backups'", "duplicate group name"]),
    ([{"name": "g", "rules": [{"alert": "A", "expr": "up", "severity": "warning"},
                              {"alert": "A", "expr": "up", "severity": "critical"}]}],
     ["group 'g'", "alert 'A'", "duplicate alert name"]),
    ([{"name": "g", "rules": [{"record": "bad name", "expr": "up"}]}], ["record 'bad name'", "metric name"]),
    ([{"name": "g", "rules": [{"record": "a:b", "expr": "up", "for": "5m"}]}], ["recording rules take no for"]),
    ({"name": "g"}, ["expected a list"]),
])
def test_rejects_with_the_culprit_named(groups, expected):
    with pytest.raises(AnsibleFilterError) as info:
        rule_groups(groups)
    for text in expected:
        assert text in str(info.value)


def test_same_alert_name_in_different_groups_is_fine():
    rules = [{"alert": "A", "expr": "up", "severity": "warning"}]
    assert len(rule_groups([{"name": "g1", "rules": rules}, {"name": "g2", "rules": rules}])) == 2


def test_duration_test_plugin():
    test = DurationTests().tests()["prometheus_duration"]
    assert test("1h30m") and test("15s") and not test("1 hour") and not test("5 minutes")
