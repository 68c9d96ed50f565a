"""promtool unit tests for every rule file the collection ships.

The rule templates are rendered with the prometheus role's defaults (every
component enabled), then the real promtool from the Prometheus image checks
them and runs each tests/rules/*.test.yml against them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_promtool

HERE = Path(__file__).resolve().parent
TEST_FILES = sorted(HERE.glob("*.test.yml"))


def _render(out: Path, extra_vars: dict | None = None) -> Path:
    os.chmod(out, 0o755)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    command = ["ansible-playbook", "-i", "localhost,", str(HERE / "render_rules.yml"),
               "-e", f"rules_out={out}", "-e", "ansible_python_interpreter=" + os.sys.executable]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = _render(tmp_path_factory.mktemp("rules"))
    for test_file in TEST_FILES:
        shutil.copy(test_file, out / test_file.name)
    return out


def test_rule_files_are_rendered(rendered: Path):
    names = sorted(p.name for p in rendered.glob("*.rules.yml"))
    assert {"targets.rules.yml", "prometheus.rules.yml", "watchdog.rules.yml",
            "node.rules.yml", "alertmanager.rules.yml"} <= set(names)


def test_promtool_check_rules(rendered: Path, images):
    files = sorted(p.name for p in rendered.glob("*.rules.yml"))
    result = run_promtool(images["prometheus_image"], ["check", "rules", *files], rendered)
    assert result.returncode == 0, result.stdout + result.stderr


def _alerts(rendered: Path) -> set[str]:
    names = set()
    for path in rendered.glob("*.rules.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["alert"] for r in group["rules"] if "alert" in r}
    return names


def _tested_alerts() -> set[str]:
    names = set()
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text()).get("tests", []):
            names |= {t["alertname"] for t in test.get("alert_rule_test", [])}
    return names


def test_every_shipped_alert_has_unit_tests(rendered: Path):
    missing = _alerts(rendered) - _tested_alerts()
    assert not missing, f"alerts without promtool unit tests: {sorted(missing)}"


def test_every_alert_has_severity_and_readable_annotations(rendered: Path):
    for path in rendered.glob("*.rules.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                assert rule.get("labels", {}).get("severity"), (path.name, rule["alert"])
                assert rule.get("annotations", {}).get("summary"), (path.name, rule["alert"])
                assert rule.get("annotations", {}).get("description"), (path.name, rule["alert"])


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(rendered: Path, images, test_file: Path):
    result = run_promtool(images["prometheus_image"], ["test", "rules", test_file.name], rendered)
    assert result.returncode == 0, result.stdout + result.stderr


def test_container_down_for_expected_names(tmp_path, images):
    """The expected-names branch exists only when the list is non-empty."""
    out = _render(tmp_path, {"prometheus_alert_overrides": {"ContainerDown": {"expected_names": ["db", "cache"]}}})
    test_file = HERE / "expected_names" / "containers.test.yml"
    shutil.copy(test_file, out / test_file.name)
    assert 'name="cache"' in (out / "containers.rules.yml").read_text()
    result = run_promtool(images["prometheus_image"], ["test", "rules", test_file.name], out)
    assert result.returncode == 0, result.stdout + result.stderr


def test_overrides_reach_the_rules_and_links_point_at_grafana(tmp_path, images):
    """One override convention: thresholds, durations, severities and enabled flags
    all come from prometheus_alert_overrides; dashboard links from the Grafana URL."""
    out = _render(tmp_path, {
        "prometheus_grafana_external_url": "https://grafana.example.com/",
        "prometheus_alert_overrides": {
            "HostHighCpuUsage": {"threshold": 0.95, "for": "15m", "severity": "critical"},
            "HostRebooted": {"enabled": False},
            "TargetDown": {"enabled": False}, "JobDown": {"enabled": False},
        }})
    rules = {}
    for path in out.glob("*.rules.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"] or []:
                if "alert" in rule:
                    rules.setdefault(rule["alert"], rule)
    cpu = rules["HostHighCpuUsage"]
    assert cpu["expr"].endswith("> 0.95") and cpu["for"] == "15m"
    assert cpu["labels"]["severity"] == "critical"
    assert "HostRebooted" not in rules and "TargetDown" not in rules
    assert cpu["annotations"]["dashboard"] == "https://grafana.example.com/d/vpsmon-linux-system"
    assert rules["ContainerDown"]["annotations"]["dashboard"] == \
        "https://grafana.example.com/d/vpsmon-docker-containers"
    # A group whose every alert is off is still a valid rule file.
    files = sorted(p.name for p in out.glob("*.rules.yml"))
    result = run_promtool(images["prometheus_image"], ["check", "rules", *files], out)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_and_test_counts(rendered: Path):
    """Prints the numbers the issue asks for (pytest -s)."""
    alerts = sum(1 for path in rendered.glob("*.rules.yml")
                 for group in yaml.safe_load(path.read_text())["groups"]
                 for rule in group["rules"] or [] if "alert" in rule)
    cases = sum(len(t.get("alert_rule_test", [])) for path in TEST_FILES + [HERE / "expected_names" / "containers.test.yml"]
                for t in yaml.safe_load(path.read_text()).get("tests", []))
    print(f"\nalert rules: {alerts} ({len(_alerts(rendered))} names), promtool alert test cases: {cases}")
    assert alerts >= len(_alerts(rendered)) > 0
