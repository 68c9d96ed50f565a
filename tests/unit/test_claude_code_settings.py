"""claude_code_settings module and the claude_code_telemetry role on a temp settings file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ansible_collections.vps.monitoring.plugins.modules import claude_code_settings as mod

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"


def test_merge_keeps_other_keys_and_reports_only_changes():
    settings = {"model": "opus", "env": {"FOO": "bar", "OTEL_METRICS_EXPORTER": "otlp"}, "hooks": {"a": 1}}
    new, changed = mod.merge(settings, {"OTEL_METRICS_EXPORTER": "otlp", "X": 5}, "present")
    assert changed == ["X"]
    assert new == {"model": "opus", "env": {"FOO": "bar", "OTEL_METRICS_EXPORTER": "otlp", "X": "5"},
                   "hooks": {"a": 1}}
    assert settings["env"] == {"FOO": "bar", "OTEL_METRICS_EXPORTER": "otlp"}  # input untouched


def test_merge_absent_removes_only_named_keys():
    new, changed = mod.merge({"env": {"A": "1", "B": "2"}}, {"A": "", "C": ""}, "absent")
    assert changed == ["A"] and new == {"env": {"B": "2"}}


def test_render_masks_secrets():
    text = mod.render({"env": {"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer s3cr3t", "A": "1"}},
                      {"OTEL_EXPORTER_OTLP_HEADERS"})
    assert "s3cr3t" not in text and mod.REDACTED in text and '"A": "1"' in text


@pytest.mark.parametrize("content, why", [("[1, 2]", "top level"), ('{"env": []}', '"env"'), ("{nope", "Expecting")])
def test_load_rejects_non_objects(tmp_path, content, why):
    path = tmp_path / "settings.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=why):
        mod.load_settings(str(path))


def _play(tmp_path: Path, settings: Path, extra: dict, *flags: str) -> subprocess.CompletedProcess:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: vps.monitoring.claude_code_telemetry\n")
    extra_vars = {"claude_code_telemetry_settings_path": str(settings), **extra,
                  "ansible_python_interpreter": str(PYTHON)}
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_STDOUT_CALLBACK": "default"}
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", json.dumps(extra_vars), str(playbook), *flags],
        capture_output=True, text=True, env=env, check=False)


def _recap(out: str) -> tuple[int, int]:
    line = [ln for ln in out.splitlines() if ln.startswith("localhost") and "ok=" in ln][-1]
    fields = dict(part.split("=") for part in line.split()[2:])
    return int(fields["changed"]), int(fields["failed"])


def test_role_merges_idempotently_with_check_and_diff(tmp_path):
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    original = {"model": "sonnet", "permissions": {"allow": ["Bash(ls)"]}, "env": {"MY_VAR": "keep"}}
    settings.write_text(json.dumps(original, indent=4))
    token = "tok-7f3a9c-never-printed"
    extra = {"claude_code_telemetry_implementation": "vmagent",
             "claude_code_telemetry_endpoint": "http://10.0.0.5:4318",
             "claude_code_telemetry_export_interval_ms": 10000,
             "claude_code_telemetry_otlp_headers": f"Authorization=Bearer {token}"}

    check = _play(tmp_path, settings, extra, "--check", "--diff")
    assert _recap(check.stdout) == (2, 0), check.stdout + check.stderr
    assert json.loads(settings.read_text()) == original, "check mode wrote the file"
    assert "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE" in check.stdout  # the diff shows the block
    assert token not in check.stdout + check.stderr

    first = _play(tmp_path, settings, extra, "--diff")
    assert _recap(first.stdout) == (2, 0), first.stdout + first.stderr
    assert token not in first.stdout + first.stderr
    data = json.loads(settings.read_text())
    assert data["model"] == "sonnet" and data["permissions"] == original["permissions"]
    env = data["env"]
    assert env["MY_VAR"] == "keep"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://10.0.0.5:4318"
    assert env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] == "http://10.0.0.5:4318/opentelemetry/v1/metrics"
    assert env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] == "cumulative"
    assert env["OTEL_METRIC_EXPORT_INTERVAL"] == "10000"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == f"Authorization=Bearer {token}"

    second = _play(tmp_path, settings, extra, "--diff")
    assert _recap(second.stdout) == (0, 0), second.stdout

    # Back to otelcol: the vmagent-only override goes, the rest stays.
    third = _play(tmp_path, settings, {**extra, "claude_code_telemetry_implementation": "otelcol"})
    assert _recap(third.stdout)[1] == 0, third.stdout
    assert "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" not in json.loads(settings.read_text())["env"]

    gone = _play(tmp_path, settings, {**extra, "claude_code_telemetry_state": "absent"})
    assert _recap(gone.stdout)[1] == 0, gone.stdout
    assert json.loads(settings.read_text()) == original


def test_role_creates_a_private_file_and_rejects_bad_input(tmp_path):
    settings = tmp_path / "new" / "settings.json"
    created = _play(tmp_path, settings, {})
    assert _recap(created.stdout) == (1, 0), created.stdout
    assert oct(settings.stat().st_mode & 0o777) == "0o600"

    bad = _play(tmp_path, settings, {"claude_code_telemetry_endpoint": "http://h:4318/v1/metrics"})
    assert _recap(bad.stdout)[1] == 1 and "claude_code_telemetry_endpoint" in bad.stdout

    settings.write_text("{broken")
    broken = _play(tmp_path, settings, {})
    assert _recap(broken.stdout)[1] == 1 and "cannot merge into this file" in broken.stdout
    assert settings.read_text() == "{broken"
