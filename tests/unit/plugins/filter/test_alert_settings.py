"""Unit tests of the vps.monitoring.alert_settings filter."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vps.monitoring.plugins.filter.alert_settings import alert_settings

DEFAULTS = {
    "HostHighCpuUsage": {"enabled": True, "threshold": 0.8, "for": "5m", "severity": "warning"},
    "ContainerRestarting": {"enabled": True, "threshold": 2, "window": "15m", "for": "0m", "severity": "warning"},
    "CertificateExpiresSoon": {"enabled": True, "threshold": 14, "critical_threshold": 3, "for": "10m"},
}
KINDS = {"HostHighCpuUsage": "ratio", "ContainerRestarting": "non_negative", "CertificateExpiresSoon": "positive_int"}


def test_defaults_give_no_errors_and_one_check_per_value():
    found = alert_settings(DEFAULTS, {}, KINDS)
    assert found["errors"] == []
    names = {c["name"]: c["kind"] for c in found["checks"]}
    assert names["prometheus_alert_defaults.HostHighCpuUsage.threshold"] == "ratio"
    assert names["prometheus_alert_defaults.ContainerRestarting.window"] == "duration"
    assert names["prometheus_alert_defaults.CertificateExpiresSoon.critical_threshold"] == "positive_int"


def test_an_overridden_value_is_checked_under_the_overrides_path():
    found = alert_settings(DEFAULTS, {"HostHighCpuUsage": {"threshold": 1.5}}, KINDS)
    assert {"name": "prometheus_alert_overrides.HostHighCpuUsage.threshold", "value": 1.5,
            "kind": "ratio"} in found["checks"]
    # The untouched keys keep the defaults' path.
    assert any(c["name"] == "prometheus_alert_defaults.HostHighCpuUsage.for" for c in found["checks"])


@pytest.mark.parametrize("overrides, message", [
    ({"Nope": {}}, "prometheus_alert_overrides.Nope is not an alert of this collection"),
    ({"HostHighCpuUsage": {"window": "5m"}}, "prometheus_alert_overrides.HostHighCpuUsage.window is not a setting"),
    ({"HostHighCpuUsage": 0.9}, "prometheus_alert_overrides.HostHighCpuUsage must be a mapping"),
    ({"HostHighCpuUsage": {"severity": "high"}}, "HostHighCpuUsage.severity='high' is not a severity"),
    ({"HostHighCpuUsage": {"enabled": "yes"}}, "HostHighCpuUsage.enabled='yes' must be true or false"),
    ({"CertificateExpiresSoon": {"threshold": 2}}, "critical_threshold=3 must be below threshold=2"),
])
def test_structural_mistakes(overrides, message):
    errors = alert_settings(DEFAULTS, overrides, KINDS)["errors"]
    assert any(message in e for e in errors), errors


def test_overrides_that_are_not_a_mapping():
    errors = alert_settings(DEFAULTS, ["HostHighCpuUsage"], KINDS)["errors"]
    assert errors[0].startswith("prometheus_alert_overrides must be a mapping")


def test_a_threshold_without_a_kind_is_a_collection_bug():
    with pytest.raises(AnsibleFilterError, match="no threshold kind for CertificateExpiresSoon"):
        alert_settings(DEFAULTS, {}, {})
