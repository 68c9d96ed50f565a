"""The prometheus role refuses bad alert settings before anything changes.

Runs roles/prometheus/tasks/preflight_alerts.yml through ansible-playbook
with the role's defaults plus one bad override at a time, and checks that
the failure names the exact variable path and a good value.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import ROOT

PLAYBOOK = ROOT / "tests" / "rules" / "preflight_alerts.yml"


def preflight(extra_vars: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(PLAYBOOK), "-e", json.dumps(extra_vars),
         "-e", "ansible_python_interpreter=" + os.sys.executable],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False)


def test_defaults_and_a_good_override_pass():
    result = preflight({"prometheus_alert_overrides": {
        "HostHighCpuUsage": {"threshold": 0.95, "for": "15m"},
        "HostRebooted": {"enabled": False},
        "ContainerDown": {"expected_names": ["n8n"], "severity": "warning"},
        "CertificateExpiresSoon": {"threshold": 21, "critical_threshold": 7}}})
    assert result.returncode == 0, result.stdout[-3000:]


BAD = [
    # The example: a CPU threshold of 1.5 silently disabled the alert.
    ({"HostHighCpuUsage": {"threshold": 1.5}},
     "prometheus_alert_overrides.HostHighCpuUsage.threshold=1.5 is not a ratio above 0 and at most 1. "
     "Use a value like 0.85."),
    ({"HostHighMemoryUsage": {"threshold": 0}},
     "prometheus_alert_overrides.HostHighMemoryUsage.threshold=0 is not a ratio"),
    ({"ContainerRestarting": {"threshold": -1}},
     "prometheus_alert_overrides.ContainerRestarting.threshold=-1 is not a number of at least 0"),
    ({"TargetDown": {"for": "5 minutes"}},
     "prometheus_alert_overrides.TargetDown.for=5 minutes is not a Prometheus duration"),
    ({"ContainerRestarting": {"window": "1 hour"}},
     "prometheus_alert_overrides.ContainerRestarting.window=1 hour is not a Prometheus duration"),
    ({"JobDown": {"severity": "page"}},
     "prometheus_alert_overrides.JobDown.severity='page' is not a severity. Use one of critical, warning, info."),
    ({"HostHighCpu": {"threshold": 0.9}},
     "prometheus_alert_overrides.HostHighCpu is not an alert of this collection. Known alerts:"),
    ({"HostHighCpuUsage": {"treshold": 0.9}},
     "prometheus_alert_overrides.HostHighCpuUsage.treshold is not a setting of HostHighCpuUsage. "
     "It has enabled, for, severity, threshold."),
    ({"HostRebooted": {"enabled": "no"}},
     "prometheus_alert_overrides.HostRebooted.enabled='no' must be true or false."),
    ({"ContainerDown": {"restart_policies": ["sometimes"]}},
     "prometheus_alert_overrides.ContainerDown.restart_policies=['sometimes'] must be a non-empty list"),
    ({"CertificateExpiresSoon": {"critical_threshold": 20}},
     "prometheus_alert_overrides.CertificateExpiresSoon.critical_threshold=20 must be below threshold=14"),
]


BAD_IDS = [next(iter(o)) + "-" + next(iter(next(iter(o.values())))) for o, _unused in BAD]


@pytest.mark.parametrize("override, message", BAD, ids=BAD_IDS)
def test_bad_setting_fails_naming_the_path_and_a_good_value(override, message):
    result = preflight({"prometheus_alert_overrides": override})
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]


def test_a_removed_flat_variable_names_its_replacement():
    result = preflight({"prometheus_alert_cpu_threshold": 0.9})
    assert result.returncode != 0
    assert ("prometheus_alert_cpu_threshold is no longer read: set "
            "prometheus_alert_overrides.HostHighCpuUsage.threshold instead") in " ".join(result.stdout.split())


def test_all_mistakes_are_reported_at_once():
    result = preflight({"prometheus_alert_overrides": {"HostHighCpuUsage": {"threshold": 2},
                                                       "TargetDown": {"for": "soon"}}})
    assert result.returncode != 0
    assert "HostHighCpuUsage.threshold=2" in result.stdout
    assert "TargetDown.for=soon" in result.stdout
