"""claude_code_settings module and the claude_code_telemetry role on a temp settings file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.vps.monitoring.plugins.modules import claude_code_settings as mod

ROOT = Path(__file__).resolve().parents[2]
# The toolchain running pytest: scripts/compat.sh runs it under other ansible-core versions.
PYTHON = Path(sys.executable)


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


HOOK = {"event": "SessionEnd", "id": "vpsmon_session_end.py", "command": "python3 /h/vpsmon_session_end.py /h/c.json",
        "timeout": 10}


def test_merge_hooks_adds_once_and_keeps_user_hooks():
    user = {"hooks": {"SessionEnd": [{"hooks": [{"type": "command", "command": "say bye"}]}],
                      "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit"}]}]}}
    new, changed = mod.merge_hooks(user, [HOOK], "present")
    assert changed == ["SessionEnd"]
    assert new["hooks"]["PreToolUse"] == user["hooks"]["PreToolUse"]
    # No matcher on either: ours joins the user's matcher-less group, after the user's command.
    assert new["hooks"]["SessionEnd"] == [{"hooks": [{"type": "command", "command": "say bye"},
                                                     {"type": "command", "command": HOOK["command"], "timeout": 10}]}]
    again, changed = mod.merge_hooks(new, [HOOK], "present")
    assert changed == [] and again == new


def test_merge_hooks_replaces_a_changed_command_and_removes_cleanly():
    first = mod.merge_hooks({}, [HOOK], "present")[0]
    moved = {**HOOK, "command": "python3 /elsewhere/vpsmon_session_end.py /elsewhere/c.json"}
    second, changed = mod.merge_hooks(first, [moved], "present")
    assert changed == ["SessionEnd"]
    assert [h["command"] for g in second["hooks"]["SessionEnd"] for h in g["hooks"]] == [moved["command"]]
    gone, changed = mod.merge_hooks(second, [moved], "absent")
    assert changed == ["SessionEnd"] and gone == {}
    assert mod.merge_hooks(gone, [moved], "absent") == ({}, [])


@pytest.mark.parametrize("settings", [{"hooks": []}, {"hooks": {"SessionEnd": {"hooks": []}}},
                                      {"hooks": {"SessionEnd": ["cmd"]}}])
def test_merge_hooks_rejects_foreign_shapes(settings):
    with pytest.raises(ValueError, match="hooks"):
        mod.merge_hooks(settings, [HOOK], "present")


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
        [str(PYTHON.parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", json.dumps(extra_vars), str(playbook), *flags],
        capture_output=True, text=True, env=env, check=False)


def _recap(out: str) -> tuple[int, int]:
    line = [ln for ln in out.splitlines() if ln.startswith("localhost") and "ok=" in ln][-1]
    fields = dict(part.split("=") for part in line.split()[2:])
    return int(fields["changed"]), int(fields["failed"])


def test_role_merges_idempotently_with_check_and_diff(tmp_path):
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    user_hook = {"matcher": "", "hooks": [{"type": "command", "command": "notify-send bye"}]}
    original = {"model": "sonnet", "permissions": {"allow": ["Bash(ls)"]}, "env": {"MY_VAR": "keep"},
                "hooks": {"SessionEnd": [user_hook], "Stop": [{"hooks": [{"type": "command", "command": "x"}]}]}}
    # What an earlier version of the role wrote for vmagent: must go.
    stale = {**original, "env": {**original["env"],
                                 "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://h:4318/opentelemetry/v1/metrics"}}
    settings.write_text(json.dumps(stale, indent=4))
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    token, hook_token = "tok-7f3a9c-never-printed", "hook-91b2-never-printed"
    hook_dir = tmp_path / "hooks"
    extra = {"claude_code_telemetry_endpoint": "https://vps.example.invalid:4317",
             "claude_code_telemetry_protocol": "grpc",
             "claude_code_telemetry_temporality": "delta",
             "claude_code_telemetry_export_interval_ms": 10000,
             "claude_code_telemetry_otlp_token": token,
             "claude_code_telemetry_ca_file": str(ca),
             "claude_code_telemetry_ca_dest": str(tmp_path / ".claude" / "ca.crt"),
             "claude_code_telemetry_session_end_url": "https://vps.example.invalid/webhook/telemetry/session-end",
             "claude_code_telemetry_session_end_token": hook_token,
             "claude_code_telemetry_hook_dir": str(hook_dir)}

    check = _play(tmp_path, settings, extra, "--check", "--diff")
    assert _recap(check.stdout)[1] == 0, check.stdout + check.stderr
    assert json.loads(settings.read_text()) == stale, "check mode wrote the file"
    assert not hook_dir.exists() and not (tmp_path / ".claude" / "ca.crt").exists()
    assert "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE" in check.stdout  # the diff shows the block
    assert "vpsmon_session_end.py" in check.stdout
    for secret in (token, hook_token):
        assert secret not in check.stdout + check.stderr

    first = _play(tmp_path, settings, extra, "--diff")
    assert _recap(first.stdout)[1] == 0, first.stdout + first.stderr
    for secret in (token, hook_token):
        assert secret not in first.stdout + first.stderr
    data = json.loads(settings.read_text())
    assert data["model"] == "sonnet" and data["permissions"] == original["permissions"]
    env = data["env"]
    assert env["MY_VAR"] == "keep"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://vps.example.invalid:4317"
    assert "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" not in env
    assert env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] == "delta"
    assert env["OTEL_METRIC_EXPORT_INTERVAL"] == "10000"
    assert env["OTEL_EXPORTER_OTLP_HEADERS"] == f"Authorization=Bearer {token}"
    assert env["OTEL_EXPORTER_OTLP_CERTIFICATE"] == str(tmp_path / ".claude" / "ca.crt")
    assert (tmp_path / ".claude" / "ca.crt").read_text() == ca.read_text()
    # The user's hooks stay; theirs has matcher "" and ours none, so ours gets a group of its own.
    assert data["hooks"]["Stop"] == original["hooks"]["Stop"]
    session_end = data["hooks"]["SessionEnd"]
    assert session_end[0] == user_hook
    ours = session_end[1]["hooks"]
    assert len(session_end) == 2 and len(ours) == 1 and "vpsmon_session_end.py" in ours[0]["command"]
    assert ours[0]["timeout"] == 10 and hook_token not in settings.read_text()
    config = hook_dir / "vpsmon_session_end.json"
    assert json.loads(config.read_text())["token"] == hook_token
    assert oct(config.stat().st_mode & 0o777) == "0o600"

    second = _play(tmp_path, settings, extra, "--diff")
    assert _recap(second.stdout) == (0, 0), second.stdout
    check_again = _play(tmp_path, settings, extra, "--check")
    assert _recap(check_again.stdout) == (0, 0), check_again.stdout

    # A new URL rewrites our hook's config in place; the command entry stays single.
    moved = _play(tmp_path, settings, {**extra, "claude_code_telemetry_session_end_timeout": 3})
    assert _recap(moved.stdout)[1] == 0, moved.stdout
    ours = json.loads(settings.read_text())["hooks"]["SessionEnd"]
    assert len(ours) == 2 and ours[1]["hooks"][0]["timeout"] == 8

    gone = _play(tmp_path, settings, {**extra, "claude_code_telemetry_state": "absent"})
    assert _recap(gone.stdout)[1] == 0, gone.stdout
    assert json.loads(settings.read_text()) == original
    assert not (hook_dir / "vpsmon_session_end.json").exists()


def test_role_creates_a_private_file_and_rejects_bad_input(tmp_path):
    settings = tmp_path / "new" / "settings.json"
    created = _play(tmp_path, settings, {})
    assert _recap(created.stdout) == (1, 0), created.stdout
    assert oct(settings.stat().st_mode & 0o777) == "0o600"

    assert json.loads(settings.read_text())["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"

    for bad_vars, name in [({"claude_code_telemetry_endpoint": "http://h:4318/v1/metrics"},
                            "claude_code_telemetry_endpoint"),
                           ({"claude_code_telemetry_protocol": "grpc", "claude_code_telemetry_endpoint": "http://h:4318"},
                            "claude_code_telemetry_protocol"),
                           ({"claude_code_telemetry_temporality": "both"}, "claude_code_telemetry_temporality"),
                           ({"claude_code_telemetry_ca_file": str(tmp_path / "missing.crt")},
                            "claude_code_telemetry_ca_file"),
                           ({"claude_code_telemetry_session_end_url": "http://h/webhook/x"},
                            "claude_code_telemetry_session_end_token")]:
        before = settings.read_text()
        bad = _play(tmp_path, settings, bad_vars)
        assert _recap(bad.stdout)[1] == 1 and name in bad.stdout, (bad_vars, bad.stdout)
        assert settings.read_text() == before

    settings.write_text("{broken")
    broken = _play(tmp_path, settings, {})
    assert _recap(broken.stdout)[1] == 1 and "cannot merge into this file" in broken.stdout
    assert settings.read_text() == "{broken"


HOOK_SCRIPT = ROOT / "roles" / "claude_code_telemetry" / "files" / "session_end_hook.py"


@pytest.fixture
def webhook():
    """A local HTTP endpoint recording what the hook posts (answers 200 or 503)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen: list = []
    state = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802 - http.server naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"auth": self.headers.get("Authorization"), "body": body})
            self.send_response(state["status"])
            self.end_headers()
            self.wfile.write(b'{"written": true}')

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"url": f"http://127.0.0.1:{server.server_address[1]}/webhook/telemetry/session-end", "seen": seen,
           "state": state}
    server.shutdown()
    server.server_close()


def _hook(tmp_path, url, stdin, env=None, timeout=5):
    config = tmp_path / "hook.json"
    config.write_text(json.dumps({"url": url, "token": "tkn-hook-unit", "timeout": timeout,
                                  "task_env": "CLAUDE_ODOO_TASK"}))
    clean = {k: v for k, v in os.environ.items() if k != "CLAUDE_ODOO_TASK"}
    return subprocess.run([sys.executable, str(HOOK_SCRIPT), str(config)], input=stdin, capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=60, check=False)


def test_hook_posts_session_branch_and_task(tmp_path, webhook):
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "task/odoo-42", str(repo)], check=True)
    event = json.dumps({"session_id": "abc-123", "cwd": str(repo), "reason": "exit", "hook_event_name": "SessionEnd"})
    done = _hook(tmp_path, webhook["url"], event)
    assert done.returncode == 0 and "200" in done.stdout, done.stderr
    sent = webhook["seen"][-1]
    assert sent["auth"] == "Bearer tkn-hook-unit"
    body = sent["body"]
    assert (body["session_id"], body["cwd"], body["git_branch"], body["task"], body["reason"]) == \
        ("abc-123", str(repo), "task/odoo-42", "task/odoo-42", "exit")
    assert body["ended_at"].endswith("+00:00")
    # The task variable wins over the branch.
    _hook(tmp_path, webhook["url"], event, env={"CLAUDE_ODOO_TASK": "Invoice export"})
    assert webhook["seen"][-1]["body"]["task"] == "Invoice export"


def test_hook_never_fails_the_session(tmp_path, webhook):
    import socket
    import time

    event = json.dumps({"session_id": "abc-123", "cwd": str(tmp_path)})
    webhook["state"]["status"] = 503
    refused = _hook(tmp_path, webhook["url"], event)
    assert refused.returncode == 0 and "HTTP 503" in refused.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    down = _hook(tmp_path, f"http://127.0.0.1:{port}/x", event, timeout=1)
    assert down.returncode == 0 and "not delivered" in down.stderr
    assert time.monotonic() - start < 10
    for stdin in ["", "not json", json.dumps({"cwd": "/"})]:
        odd = _hook(tmp_path, webhook["url"], stdin)
        assert odd.returncode == 0
    assert "tkn-hook-unit" not in refused.stdout + refused.stderr + down.stdout + down.stderr
