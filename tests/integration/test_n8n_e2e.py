"""Both n8n workflows end to end, in a real n8n (scripts/n8n.sh's pinned 1.x).

Alert hub: a real Alertmanager (container vpsmon-it-n8n-am, config rendered
from the alertmanager role's template) posts to n8n on the host; Telegram is
the TEST DOUBLE in tests/telegram_recorder. Session end: a Claude Code-shaped
session goes through OTLP (the real SDK) into a real vmagent + Prometheus
pair of this test's own, the real hook script posts the session end, and the
workflow writes the Odoo TEST DOUBLE (tests/odoo_double) over XML-RPC.
Latencies are printed as "MEASURE ..." lines (run with -s to see them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from am_helpers import render
from conftest import ROOT, wait_until
from stack_run import free_port

from odoo_double.server import OdooDouble
from telegram_recorder.server import TelegramRecorder

N8N_SH = ROOT / "scripts" / "n8n.sh"
HOOK = ROOT / "roles" / "claude_code_telemetry" / "files" / "session_end_hook.py"
SENDER = ROOT / "tests" / "e2e_claude" / "send_claude_metrics.py"
PREFIX = "vpsmon-it-n8n"
CHAT_ID = "-100777"
HOOK_TOKEN = "hook-token-e2e-0f2b"


def n8n_binary() -> str:
    found = subprocess.run(["bash", str(N8N_SH), "bin"], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        logs = sorted(Path(os.environ.get("VPSMON_N8N_CACHE", "/var/cache/vps-monitoring")).glob("n8n-*.partial/install.log"))
        cause = logs[-1].read_text()[-1500:] if logs else "no install was attempted"
        pytest.skip(f"n8n could not be installed ({found.stderr.strip()}); run scripts/n8n.sh install. "
                    f"Last install log: {cause}")
    return found.stdout.strip()


@pytest.fixture(scope="module")
def telegram():
    recorder = TelegramRecorder()
    recorder.url = recorder.start()
    yield recorder
    recorder.stop()


@pytest.fixture(scope="module")
def odoo():
    double = OdooDouble(db="claude", login="n8n@example.invalid", password="odoo-api-key-e2e")
    double.url = double.start()
    yield double
    double.stop()


@pytest.fixture(scope="module")
def metrics(docker_client, images):
    """Prometheus (remote-write receiver) and vmagent (OTLP in) on a private network."""
    net = docker_client.networks.create(f"{PREFIX}-net", driver="bridge")
    made = []
    try:
        prom = docker_client.containers.run(
            images["prometheus_image"], name=f"{PREFIX}-prometheus", detach=True, network=net.name,
            ports={"9090/tcp": ("127.0.0.1", None)},
            command=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/tmp/tsdb",
                     "--web.enable-remote-write-receiver"])
        made.append(prom)
        vm = docker_client.containers.run(
            images["otel_collector_vmagent_image"], name=f"{PREFIX}-vmagent", detach=True, network=net.name,
            ports={"4318/tcp": ("127.0.0.1", None)},
            command=["-httpListenAddr=:4318", "-opentelemetry.usePrometheusNaming",
                     f"-remoteWrite.url=http://{PREFIX}-prometheus:9090/api/v1/write", "-remoteWrite.forcePromProto",
                     "-remoteWrite.flushInterval=1s", "-remoteWrite.tmpDataPath=/tmp/vmagent"])
        made.append(vm)
        for c in made:
            c.reload()
        urls = {"prom": f"http://127.0.0.1:{prom.attrs['NetworkSettings']['Ports']['9090/tcp'][0]['HostPort']}",
                "otlp": f"http://127.0.0.1:{vm.attrs['NetworkSettings']['Ports']['4318/tcp'][0]['HostPort']}"}
        wait_until(lambda: requests.get(urls["prom"] + "/-/ready", timeout=2).ok, 60, what="prometheus ready")
        wait_until(lambda: requests.get(urls["otlp"] + "/health", timeout=2).ok, 60, what="vmagent healthy")
        yield urls
    finally:
        for c in made:
            c.remove(force=True)
        net.remove()


@pytest.fixture(scope="module")
def n8n(telegram, odoo, metrics, tmp_path_factory):
    binary = n8n_binary()
    home = tmp_path_factory.mktemp("n8n-home")
    credentials = home / "credentials.json"
    # n8n's export format with plain data: the import encrypts it.
    credentials.write_text(json.dumps([
        {"id": "itTelegramBot001", "name": "Telegram bot", "type": "telegramApi",
         "data": {"accessToken": telegram.token, "baseUrl": telegram.url}},
        {"id": "itSessionHook001", "name": "Session hook token", "type": "httpHeaderAuth",
         "data": {"name": "Authorization", "value": f"Bearer {HOOK_TOKEN}"}},
    ]))
    port = free_port()
    env = {**os.environ, "VPSMON_TELEGRAM_CHAT_ID": CHAT_ID, "VPSMON_PROMETHEUS_URL": metrics["prom"],
           "VPSMON_ODOO_URL": odoo.url, "VPSMON_ODOO_DB": odoo.db, "VPSMON_ODOO_USER": odoo.login,
           "VPSMON_ODOO_API_KEY": odoo.password}
    log = open(home / "n8n.log", "w")
    proc = subprocess.Popen(["bash", str(N8N_SH), "start", str(home / "data"), str(port), str(credentials)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def ready():
        if proc.poll() is not None:
            raise AssertionError("n8n exited:\n" + (home / "n8n.log").read_text()[-3000:])
        text = (home / "n8n.log").read_text()
        return "Editor is now accessible" in text and requests.get(url + "/healthz", timeout=2).ok

    try:
        wait_until(ready, 180, interval=1, what="n8n started with both workflows active")
        text = (home / "n8n.log").read_text()
        assert 'Activated workflow "vps.monitoring: alert hub"' in text, text[-3000:]
        assert 'Activated workflow "vps.monitoring: Claude Code session end to Odoo"' in text, text[-3000:]
        yield {"url": url, "binary": binary, "log": home / "n8n.log"}
    finally:
        # The start script exec()s n8n, so this PID is n8n's own.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def alertmanager(docker_client, images, n8n):
    """A real Alertmanager whose n8n receiver is the n8n on this host's loopback."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-am-"))
    path = render(tmp, {"alertmanager_n8n_webhook_url": n8n["url"] + "/webhook/prometheus/alert",
                        "alertmanager_group_wait": "1s", "alertmanager_group_interval": "1s"})
    port = free_port()
    # Host networking: the container reaches n8n on 127.0.0.1 and listens
    # only on a loopback port of its own (no cluster port).
    container = docker_client.containers.run(
        images["alertmanager_image"], name=f"{PREFIX}-am", detach=True, network_mode="host",
        volumes={str(tmp): {"bind": str(tmp), "mode": "ro"}}, tmpfs={"/alertmanager": "uid=65534"},
        command=[f"--config.file={path}", "--storage.path=/alertmanager",
                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(url + "/-/ready", timeout=2).ok, 60, what="alertmanager ready")
        yield url
    finally:
        container.remove(force=True)
        shutil.rmtree(tmp, ignore_errors=True)


def post_alert(am: str, name: str, severity: str, resolved: bool = False) -> float:
    now = time.time()
    alert = {"labels": {"alertname": name, "severity": severity, "instance": "vps-e2e:9100"},
             "annotations": {"summary": f"{name} <test> & summary"},
             "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))}
    if resolved:
        alert["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1))
    requests.post(am + "/api/v2/alerts", json=[alert], timeout=5).raise_for_status()
    return now


def messages_with(telegram, text: str) -> list[dict]:
    return [m for m in telegram.received() if text in m["body"].get("text", "")]


def test_critical_goes_at_once_warning_waits_for_the_digest(alertmanager, telegram, n8n):
    critical, warning = f"DiskFull{uuid.uuid4().hex[:6]}", f"CpuHigh{uuid.uuid4().hex[:6]}"
    sent = post_alert(alertmanager, warning, "warning")
    sent_critical = post_alert(alertmanager, critical, "critical")
    got = wait_until(lambda: messages_with(telegram, critical), 30, interval=0.1,
                     what="the critical alert at the Telegram recorder")
    message = got[0]
    print(f"\nMEASURE critical alert posted to Alertmanager -> Telegram recorder: "
          f"{(message['at'] - sent_critical) * 1000:.0f} ms")
    assert message["token_ok"], "the Telegram node did not use the 'Telegram bot' credential"
    assert message["body"]["chat_id"] == CHAT_ID
    assert message["body"]["parse_mode"] == "HTML"
    assert message["body"]["text"].startswith(f"[CRITICAL] {critical} on vps-e2e:9100")
    assert "&lt;test&gt; &amp; summary" in message["body"]["text"]  # escaped for Telegram HTML

    # The warning reached n8n too (Alertmanager posts each group) but waits in the queue.
    assert messages_with(telegram, warning) == []

    wait_until(lambda: notifications_sent(alertmanager) >= 2, 30, what="Alertmanager posting both groups")

    # The flush finds the warning once n8n has saved the queue; a flush that
    # came too early sends nothing, so try again, never two at a time.
    def flushed():
        requests.post(n8n["url"] + "/webhook/prometheus/alert/digest", json={}, timeout=10).raise_for_status()
        return wait_until_quiet(lambda: messages_with(telegram, "Digest:"), 10)

    digest = wait_until(flushed, 60, interval=0.5, what="a digest with the warning")
    assert len(digest) == 1 and f"[WARNING] {warning} on vps-e2e:9100" in digest[0]["body"]["text"]
    assert critical not in digest[0]["body"]["text"]
    assert sent <= digest[0]["at"]
    # The queue was emptied: a second flush sends nothing.
    requests.post(n8n["url"] + "/webhook/prometheus/alert/digest", json={}, timeout=10)
    count = len(telegram.received())
    requests.post(n8n["url"] + "/webhook/prometheus/alert", timeout=10,
                  json={"alerts": [{"status": "firing", "labels": {"alertname": "Marker", "severity": "critical"}}]})
    wait_until(lambda: messages_with(telegram, "Marker"), 30, interval=0.1, what="a marker after the flush")
    assert len(telegram.received()) == count + 1, "the second digest flush sent a message"

    # Resolved: Alertmanager sends it (send_resolved) and the hub passes it on.
    post_alert(alertmanager, critical, "critical", resolved=True)
    resolved = wait_until(lambda: messages_with(telegram, f"[RESOLVED critical] {critical}"), 30, interval=0.1,
                          what="the resolved critical alert")
    assert resolved[0]["token_ok"]


def notifications_sent(am: str) -> float:
    text = requests.get(am + "/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('alertmanager_notifications_total{integration="webhook"'))


def wait_until_quiet(probe, seconds: float = 3.0):
    """probe()'s value once it is truthy, or None after `seconds` (a flush may
    legitimately send nothing)."""
    try:
        return wait_until(probe, seconds, interval=0.1, what="a message")
    except AssertionError:
        return None


def run_hook(url: str, token: str, session_id: str, cwd: Path, task_env: dict | None = None,
             timeout: int = 5) -> subprocess.CompletedProcess:
    config = cwd / "hook.json"
    config.write_text(json.dumps({"url": url, "token": token, "timeout": timeout, "task_env": "CLAUDE_ODOO_TASK"}))
    event = {"session_id": session_id, "transcript_path": str(cwd / "t.jsonl"), "cwd": str(cwd),
             "hook_event_name": "SessionEnd", "reason": "exit"}
    env = {k: v for k, v in os.environ.items() if k != "CLAUDE_ODOO_TASK"}
    env.update(task_env or {})
    return subprocess.run([sys.executable, str(HOOK), str(config)], input=json.dumps(event),
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def send_session(metrics, session_id: str) -> dict:
    out = subprocess.run([sys.executable, str(SENDER), "--metrics-endpoint",
                          metrics["otlp"] + "/opentelemetry/v1/metrics", "--session-id", session_id],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["expected"]


def test_session_end_hook_writes_the_odoo_task(n8n, odoo, metrics, tmp_path):
    branch = f"feature/odoo-{uuid.uuid4().hex[:6]}"
    task_id = odoo.add_task(branch)
    other = odoo.add_task("someone else's task")
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", branch, str(repo)], check=True)
    sid = f"it-n8n-{uuid.uuid4()}"
    expected = send_session(metrics, sid)
    wait_until(lambda: requests.get(metrics["prom"] + "/api/v1/query", timeout=5, params={
        "query": f'sum(claude_code_cost_usage_USD_total{{session_id="{sid}"}})'}).json()["data"]["result"],
        60, what="the session's cost in Prometheus")

    url = n8n["url"] + "/webhook/telemetry/session-end"
    start = time.time()
    done = run_hook(url, HOOK_TOKEN, sid, repo)
    assert done.returncode == 0 and "200" in done.stdout, done.stdout + done.stderr
    writes = [w for w in odoo.writes if w["ids"] == [task_id]]
    assert len(writes) == 1
    print(f"\nMEASURE hook POST -> Odoo double write: {(writes[0]['at'] - start) * 1000:.0f} ms "
          f"(hook process total {(time.time() - start) * 1000:.0f} ms)")
    task = odoo.tasks[task_id]
    active = expected["claude_code.active_time.total"]
    assert task["x_claude_cost_total"] == expected["claude_code.cost.usage"]
    assert task["x_claude_time_total"] == pytest.approx(active / 3600)
    assert task["x_claude_tokens_total"] == expected["claude_code.token.usage"]
    assert task["x_claude_tokens_cache_read"] == expected["tokens_by_type"]["cacheRead"]
    assert task["x_claude_lines_added"] + task["x_claude_lines_removed"] == expected["claude_code.lines_of_code.count"]
    assert task["x_claude_last_session"] == sid
    assert odoo.tasks[other]["x_claude_cost_total"] is False  # nobody else's task was touched
    # The hook's answer is what was written, read back from Odoo.
    answer = json.loads(done.stdout[done.stdout.index("{"):])
    assert answer["written"] is True and answer["task_id"] == task_id
    assert answer["values"]["x_claude_cost_total"] == expected["claude_code.cost.usage"]

    # The same session again: the totals stay (sessions are keyed by id).
    again = run_hook(url, HOOK_TOKEN, sid, repo)
    assert again.returncode == 0 and "200" in again.stdout
    assert odoo.tasks[task_id]["x_claude_cost_total"] == expected["claude_code.cost.usage"]

    # A second session named by the environment variable adds up on the same task.
    sid2 = f"it-n8n-{uuid.uuid4()}"
    send_session(metrics, sid2)
    wait_until(lambda: requests.get(metrics["prom"] + "/api/v1/query", timeout=5, params={
        "query": f'sum(claude_code_cost_usage_USD_total{{session_id="{sid2}"}})'}).json()["data"]["result"],
        60, what="the second session's cost in Prometheus")
    second = run_hook(url, HOOK_TOKEN, sid2, tmp_path, task_env={"CLAUDE_ODOO_TASK": branch})
    assert second.returncode == 0 and "200" in second.stdout, second.stdout + second.stderr
    assert odoo.tasks[task_id]["x_claude_cost_total"] == 2 * expected["claude_code.cost.usage"]
    assert odoo.tasks[task_id]["x_claude_last_session"] == sid2


def test_session_end_refusals_never_fail_the_hook(n8n, odoo, metrics, tmp_path):
    url = n8n["url"] + "/webhook/telemetry/session-end"
    writes = len(odoo.writes)
    # Wrong token: n8n's header auth refuses; the hook still exits 0.
    bad = run_hook(url, "wrong-token", f"it-{uuid.uuid4()}", tmp_path, task_env={"CLAUDE_ODOO_TASK": "x"})
    assert bad.returncode == 0 and "HTTP 403" in bad.stderr, bad.stdout + bad.stderr
    # No metrics for the session: 404 with the reason, nothing written.
    unknown = run_hook(url, HOOK_TOKEN, f"it-{uuid.uuid4()}", tmp_path, task_env={"CLAUDE_ODOO_TASK": "x"})
    assert unknown.returncode == 0 and "HTTP 404" in unknown.stderr and "no Claude Code metrics" in unknown.stderr, unknown.stdout + unknown.stderr
    # An id that would inject PromQL is refused before any query.
    r = requests.post(url, json={"session_id": 'x"}) or vector(1', "task": "t"}, timeout=10,
                      headers={"Authorization": f"Bearer {HOOK_TOKEN}"})
    assert r.status_code == 400 and r.json()["written"] is False
    # A task Odoo does not know: 404 naming it.
    sid = f"it-n8n-{uuid.uuid4()}"
    send_session(metrics, sid)
    wait_until(lambda: requests.get(metrics["prom"] + "/api/v1/query", timeout=5, params={
        "query": f'sum(claude_code_cost_usage_USD_total{{session_id="{sid}"}})'}).json()["data"]["result"],
        60, what="the session's cost in Prometheus")
    r = requests.post(url, json={"session_id": sid, "task": "no such task"}, timeout=20,
                      headers={"Authorization": f"Bearer {HOOK_TOKEN}"})
    assert r.status_code == 404 and "no such task" in r.json()["error"]
    assert len(odoo.writes) == writes
    # n8n down: the hook gives up within its timeout and exits 0.
    start = time.monotonic()
    down = run_hook(f"http://127.0.0.1:{free_port()}/webhook/telemetry/session-end", HOOK_TOKEN,
                    f"it-{uuid.uuid4()}", tmp_path, timeout=2)
    assert down.returncode == 0 and "not delivered" in down.stderr
    assert time.monotonic() - start < 10
    assert HOOK_TOKEN not in down.stdout + down.stderr + bad.stdout + bad.stderr
