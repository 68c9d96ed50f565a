"""promtool_check and amtool_check against the real tools in the offline images.

Every case runs through Ansible (one ad-hoc playbook, one task per case,
results registered and written to JSON), so module wiring, argument specs,
no_log masking and check mode are exercised, not just the Python helpers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

GOOD_RULES = """
groups:
  - name: node
    rules:
      - alert: TargetDown
        expr: up == 0
        for: 5m
        labels: {severity: critical}
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} is down"
          description: "value {{ $value | humanize }}"
"""

GOOD_TEST = """
rule_files: [rules/good.rules.yml]
evaluation_interval: 1m
tests:
  - name: target down fires
    interval: 1m
    input_series:
      - series: 'up{job="node-exporter",instance="node-exporter:9100"}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 6m
        alertname: TargetDown
        exp_alerts:
          - exp_labels: {severity: critical, job: node-exporter, instance: "node-exporter:9100"}
            exp_annotations:
              summary: "node-exporter:9100 of node-exporter is down"
              description: "value 0"
"""

FAILING_TEST = GOOD_TEST.replace("name: target down fires", "name: wrong severity expected").replace(
    "exp_labels: {severity: critical", "exp_labels: {severity: warning")


def prom_config(jobs=("prometheus", "node-exporter"), interval="15s"):
    return yaml.safe_dump({
        "global": {"scrape_interval": interval, "evaluation_interval": "15s"},
        "rule_files": ["rules/*.rules.yml"],
        "scrape_configs": [{"job_name": j, "static_configs": [{"targets": ["%s:9100" % j]}]} for j in jobs],
    })


def am_config(route_receiver="n8n"):
    return yaml.safe_dump({
        "route": {"receiver": "n8n", "group_by": ["alertname", "severity"],
                  "routes": [{"matchers": ['severity="critical"'], "receiver": route_receiver}]},
        "receivers": [{"name": "n8n", "webhook_configs": [
            {"url": "http://n8n:5678/webhook/prometheus/alert", "send_resolved": True}]}],
    })


def write(base: Path, rel: str, text: str) -> str:
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.write_text(text)
    path.chmod(0o644)  # the tool runs as nobody
    return str(path)


@pytest.fixture(scope="module")
def outcomes(images):
    """Run every case in one playbook; returns {case: registered result}."""
    base = Path(tempfile.mkdtemp(prefix="vpsmon-it-toolcheck-"))
    base.chmod(0o755)
    try:
        files = {
            "stage": write(base, "stage/prometheus.yml", prom_config()),
            "stage_rules": write(base, "stage/rules/good.rules.yml", GOOD_RULES),
            "good_test": write(base, "stage/good.test.yml", GOOD_TEST),
            "failing_test": write(base, "stage/failing.test.yml", FAILING_TEST),
            "bad_promql": write(base, "bad/promql.rules.yml", GOOD_RULES.replace("up == 0", "up == = 0")),
            "bad_template": write(base, "bad/template.rules.yml",
                                  GOOD_RULES.replace("{{ $labels.job }}", "{{ $labels.job ")),
            "bad_for": write(base, "bad/for.rules.yml", GOOD_RULES.replace("for: 5m", "for: 5 minutes")),
            "dup_job": write(base, "dup/prometheus.yml", prom_config(jobs=("prometheus", "prometheus"))),
            "bad_interval": write(base, "dur/prometheus.yml", prom_config(interval="1 hour")),
            "am_good": write(base, "am/good.yml", am_config()),
            "am_unknown": write(base, "am/unknown.yml", am_config(route_receiver="pager")),
        }
        # A local promtool for the binary: path, taken from the same image.
        binary = base / "bin" / "promtool"
        binary.parent.mkdir()
        cid = subprocess.run(["docker", "create", images["prometheus_image"]], capture_output=True, text=True,
                             check=True).stdout.strip()
        try:
            subprocess.run(["docker", "cp", "%s:/bin/promtool" % cid, str(binary)], check=True, capture_output=True)
        finally:
            subprocess.run(["docker", "rm", cid], check=True, capture_output=True)

        prom, am = images["prometheus_image"], images["alertmanager_image"]
        exprs_ok = [
            {"name": "CPU busy", "expr": '1 - avg without (cpu) (rate(node_cpu_seconds_total{mode="idle",'
                                         'instance=~"$instance"}[$__rate_interval]))'},
            {"name": "Grouped", "expr": "sum by ($group) (increase(x_total[$__range])) / $__interval_ms"},
        ]
        exprs_bad = exprs_ok + [{"name": "Broken panel", "expr": "sum(rate(x_total[5m])"}]
        cases = {
            "config_ok": ("promtool_check", {"check": "config", "paths": [files["stage"]], "image": prom}),
            "config_ok_check_mode": ("promtool_check", {"check": "config", "paths": [files["stage"]],
                                                        "image": prom}, True),
            "config_ok_binary": ("promtool_check", {"check": "config", "paths": [files["stage"]],
                                                    "binary": str(binary)}),
            "rules_bad_promql": ("promtool_check", {"check": "rules", "image": prom,
                                                    "paths": [files["bad_promql"], files["stage_rules"]]}),
            "rules_bad_template": ("promtool_check", {"check": "rules", "paths": [files["bad_template"]],
                                                      "image": prom}),
            "rules_bad_for": ("promtool_check", {"check": "rules", "paths": [files["bad_for"]], "image": prom}),
            "config_dup_job": ("promtool_check", {"check": "config", "paths": [files["dup_job"]], "image": prom}),
            "config_bad_interval": ("promtool_check", {"check": "config", "paths": [files["bad_interval"]],
                                                       "image": prom}),
            "test_rules": ("promtool_check", {"check": "test_rules", "image": prom,
                                              "paths": [files["good_test"], files["failing_test"]]}),
            "test_rules_ok": ("promtool_check", {"check": "test_rules", "paths": [files["good_test"]],
                                                 "image": prom}),
            "exprs_ok": ("promtool_check", {"check": "expressions", "expressions": exprs_ok, "image": prom}),
            "exprs_bad": ("promtool_check", {"check": "expressions", "expressions": exprs_bad,
                                             "binary": str(binary)}),
            "no_image": ("promtool_check", {"check": "config", "paths": [files["stage"]],
                                            "image": "vpsmon-it/absent:never"}),
            "am_ok": ("amtool_check", {"paths": [files["am_good"]], "image": am}),
            "am_unknown": ("amtool_check", {"paths": [files["am_good"], files["am_unknown"]], "image": am}),
            "am_redact": ("amtool_check", {"paths": [files["am_unknown"]], "image": am, "redact": ["pager"]}),
        }
        rendered = str(base / "bad" / "filter.rules.yml")
        compact = [{"name": "custom", "interval": "30s", "rules": [
            {"alert": "BackupTooOld", "expr": "time() - backup_last_success_timestamp_seconds > 86400",
             "for": "15m", "keep_firing_for": "5m", "severity": "warning", "summary": "Backup is old",
             "labels": {"team": "ops"}},
            {"record": "job:backup_age_seconds:max", "expr": "max by (job) (time() - backup_ts)"}]}]
        tasks = [{"name": "render with the rule_groups filter", "ansible.builtin.copy": {
            "dest": rendered, "mode": "0644",
            "content": "{{ {'groups': compact | vps.monitoring.rule_groups} | to_nice_yaml }}"},
            "vars": {"compact": compact}}]
        cases["filter_rendered"] = ("promtool_check", {"check": "rules", "paths": [rendered], "image": prom})
        for name, case in cases.items():
            module, args = case[0], case[1]
            task = {"name": name, "vps.monitoring.%s" % module: args, "register": name, "ignore_errors": True}
            if len(case) > 2:
                task["check_mode"] = True
            tasks.append(task)
        out = base / "results.json"
        tasks.append({"name": "save", "ansible.builtin.copy": {
            "dest": str(out), "mode": "0600",
            "content": "{{ {%s} | to_json }}" % ", ".join("'%s': %s" % (n, n) for n in cases)}})
        playbook = base / "play.yml"
        playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
                   ANSIBLE_NOCOLOR="1")
        proc = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
             "-e", "ansible_python_interpreter=%s" % (ROOT / ".venv" / "bin" / "python"), str(playbook)],
            capture_output=True, text=True, env=env, check=False, timeout=300)
        assert out.exists(), proc.stdout + proc.stderr
        results = json.loads(out.read_text())
        results["_files"] = files
        results["_log"] = proc.stdout + proc.stderr
        yield results
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_valid_config_passes_with_rule_files_relative_to_config(outcomes):
    for case in ("config_ok", "config_ok_check_mode", "config_ok_binary"):
        result = outcomes[case]
        assert not result.get("failed"), (case, result.get("msg"))
        assert result["changed"] is False and result["rc"] == 0
        assert "1 rule files found" in result["stdout"]
        assert result["tool_version"].startswith("promtool, version 2.")


def test_rule_groups_filter_output_is_accepted_by_promtool(outcomes):
    result = outcomes["filter_rendered"]
    assert not result.get("failed"), result.get("msg")
    assert "SUCCESS: 2 rules found" in result["stdout"]


def test_invalid_promql_names_file_group_rule(outcomes):
    result = outcomes["rules_bad_promql"]
    assert result["failed"]
    (error,) = [r for r in result["results"] if r["level"] == "error"]
    assert error["file"] == outcomes["_files"]["bad_promql"]
    assert (error["group"], error["rule"]) == ("node", "TargetDown")
    assert "parse error" in error["message"]
    assert "promql.rules.yml, group 'node', rule 'TargetDown': could not parse expression" in result["msg"]


def test_annotation_template_that_does_not_parse(outcomes):
    result = outcomes["rules_bad_template"]
    assert result["failed"]
    assert result["results"][0]["rule"] == "TargetDown"
    assert 'annotation "summary"' in result["results"][0]["message"]
    assert 'annotation "summary": template: __alert_TargetDown' in result["msg"]


def test_invalid_durations(outcomes):
    for case, text in (("rules_bad_for", 'duration "5 minutes"'), ("config_bad_interval", 'duration "1 hour"')):
        result = outcomes[case]
        assert result["failed"] and text in result["msg"], case
        assert result["results"][0]["file"] in outcomes["_files"].values()


def test_duplicate_scrape_job(outcomes):
    result = outcomes["config_dup_job"]
    assert result["failed"]
    assert result["results"][0]["file"] == outcomes["_files"]["dup_job"]
    assert 'found multiple scrape configs with job name "prometheus"' in result["msg"]


def test_rule_unit_tests(outcomes):
    assert not outcomes["test_rules_ok"].get("failed"), outcomes["test_rules_ok"].get("msg")
    result = outcomes["test_rules"]
    assert result["failed"]
    (failure,) = result["results"]
    assert failure["file"] == outcomes["_files"]["failing_test"]
    assert failure["test"] == "wrong severity expected"
    assert failure["rule"] == "TargetDown"
    assert 'severity="warning"' in failure["message"] and 'severity="critical"' in failure["message"]


def test_expressions(outcomes):
    ok = outcomes["exprs_ok"]
    assert not ok.get("failed"), ok.get("msg")
    bad = outcomes["exprs_bad"]
    assert bad["failed"]
    (error,) = bad["results"]
    assert error["rule"] == "Broken panel" and "unclosed left parenthesis" in error["message"]
    assert "expression 'Broken panel'" in bad["msg"]


def test_absent_image_is_not_pulled(outcomes):
    result = outcomes["no_image"]
    assert result["failed"]
    assert "vpsmon-it/absent:never is not present" in result["msg"] and "never pulled" in result["msg"]


def test_amtool(outcomes):
    assert not outcomes["am_ok"].get("failed"), outcomes["am_ok"].get("msg")
    assert outcomes["am_ok"]["results"][0]["level"] == "ok"
    result = outcomes["am_unknown"]
    assert result["failed"]
    levels = {r["file"]: r["level"] for r in result["results"]}
    assert levels == {outcomes["_files"]["am_good"]: "ok", outcomes["_files"]["am_unknown"]: "error"}
    assert "unknown.yml" in result["msg"] and "'pager'" in result["msg"]
    # redact: a listed string never appears in the registered result, even in the tool's own text.
    redacted = outcomes["am_redact"]
    assert redacted["failed"] and "********" in redacted["msg"]
    assert "pager" not in json.dumps(redacted)


def test_no_stray_tool_containers(docker_client, outcomes):
    leftovers = docker_client.containers.list(all=True, filters={"label": "vps.monitoring.tool-check"})
    assert leftovers == []
