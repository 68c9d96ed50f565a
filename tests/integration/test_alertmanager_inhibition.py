"""One failure, one notification: the role's inhibit rules in a real Alertmanager.

For each failure scenario the alerts Prometheus would send are posted to a
real Alertmanager (the role's rendered config, short group_wait) whose n8n
webhook is a recording sink. With the default inhibit rules exactly one
notification reaches the webhook; with alertmanager_inhibit_rules: [] every
alert name arrives on its own (the "before" count).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from am_helpers import render, running_alertmanager
from conftest import ROOT, wait_until

NETWORK = "vpsmon-it-am-net"
SINK = "vpsmon-it-am-sink"
EXTERNAL_URL = "https://alerts.example.com"
PROMETHEUS_URL = "https://prometheus.example.com"


def _alert(alertname: str, severity: str, **labels: str) -> dict:
    return {
        "labels": {"alertname": alertname, "severity": severity, **labels},
        "annotations": {"summary": f"{alertname} summary", "description": f"{alertname} description",
                        "dashboard": "https://grafana.example.com/d/vpsmon-linux-system"},
        "generatorURL": f"{PROMETHEUS_URL}/graph?g0.expr=up",
    }


NODE = {"job": "node-exporter", "instance": "node-exporter:9100"}
EXPORTER = {"job": "docker-exporter", "instance": "docker-exporter:9487"}
ENGINE = {"job": "docker-engine", "instance": "host.docker.internal:9323"}

# scenario -> (alerts Prometheus fires, notifications without inhibition, the one left)
SCENARIOS = {
    # node-exporter container stopped: its target and its whole job are down.
    "exporter-down": ([
        _alert("TargetDown", "critical", **NODE),
        _alert("JobDown", "critical", job="node-exporter"),
    ], 2, "JobDown"),
    # The engine is gone: the exporter reports docker_up 0, the engine's own
    # metrics endpoint is down, and container alerts still pending fire.
    "engine-down": ([
        _alert("DockerEngineUnreachable", "critical", **EXPORTER),
        _alert("ContainerDown", "critical", name="web", id="aaa", **EXPORTER),
        _alert("ContainerDown", "critical", name="db", id="bbb", **EXPORTER),
        _alert("ContainerUnhealthy", "warning", name="api", id="ccc", **EXPORTER),
        _alert("TargetDown", "critical", **ENGINE),
        _alert("JobDown", "critical", job="docker-engine"),
    ], 5, "DockerEngineUnreachable"),
    # The host thrashes and its exporter stops answering while its resource
    # alerts fire.
    "host-down": ([
        _alert("TargetDown", "critical", **NODE),
        _alert("JobDown", "critical", job="node-exporter"),
        _alert("HostHighMemoryUsage", "warning", **NODE),
        _alert("HostOomKillDetected", "warning", **NODE),
        _alert("HostDiskWillFillIn24Hours", "warning", device="/dev/sda1", mountpoint="/", **NODE),
    ], 5, "JobDown"),
}
# After the expected notifications arrived, nothing more may come within this
# window (every group of one POST flushes at the same group_wait tick).
QUIET_WINDOW = 4.0


@pytest.fixture(scope="module")
def sink(docker_client, images):
    network = docker_client.networks.create(NETWORK, driver="bridge")
    container = docker_client.containers.run(
        images["docker_exporter_base_image"], ["python3", "/tests/n8n_sink/sink.py", "5678"], name=SINK,
        detach=True, network=NETWORK, entrypoint=[], environment={"PYTHONPATH": "/tests"},
        volumes={str(ROOT / "tests"): {"bind": "/tests", "mode": "ro"}}, ports={"5678/tcp": ("127.0.0.1", None)})
    try:
        def url():
            container.reload()
            port = container.attrs["NetworkSettings"]["Ports"]["5678/tcp"][0]["HostPort"]
            base = f"http://127.0.0.1:{port}"
            return base if requests.get(base + "/received", timeout=2).ok else None

        yield wait_until(url, timeout=30, what="webhook sink")
    finally:
        container.remove(force=True)
        network.remove()


def _config(tmp_path: Path, inhibit: bool) -> str:
    override = {
        "alertmanager_n8n_webhook_url": f"http://{SINK}:5678/webhook/prometheus/alert",
        "alertmanager_group_wait": "1s",
        # No second flush of a group while the test watches.
        "alertmanager_group_interval": "5m",
    }
    if not inhibit:
        override["alertmanager_inhibit_rules"] = []
    return render(tmp_path, override)


def _notifications(sink_url: str) -> list[dict]:
    return [r["body"] for r in requests.get(sink_url + "/received", timeout=5).json()]


def _run(docker_client, images, tmp_path, sink_url, scenario: str, inhibit: bool) -> list[dict]:
    alerts, _unused, _unused = SCENARIOS[scenario]
    config = _config(tmp_path, inhibit)
    name = f"vpsmon-it-am-{scenario}-{'on' if inhibit else 'off'}"
    requests.delete(sink_url + "/received", timeout=5)
    with running_alertmanager(docker_client, images["alertmanager_image"], config, name, NETWORK,
                              external_url=EXTERNAL_URL) as am:
        requests.post(am + "/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
        wait_until(lambda: _notifications(sink_url), timeout=30, what="a notification at the webhook")
        if inhibit:
            # Alertmanager has evaluated the inhibitions: every other alert is suppressed.
            def suppressed():
                listed = requests.get(am + "/api/v2/alerts", timeout=5).json()
                return len(listed) == len(alerts) and sum(bool(a["status"]["inhibitedBy"]) for a in listed) == \
                    len(alerts) - sum(a["labels"]["alertname"] == SCENARIOS[scenario][2] for a in alerts)
            wait_until(suppressed, timeout=15, what="inhibited alerts marked suppressed")
        deadline = time.monotonic() + QUIET_WINDOW
        seen = _notifications(sink_url)
        while time.monotonic() < deadline:
            seen = _notifications(sink_url)
            time.sleep(0.25)
    return seen


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_one_failure_gives_one_notification(docker_client, images, tmp_path, sink, scenario):
    alerts, before_count, survivor = SCENARIOS[scenario]
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    before = _run(docker_client, images, tmp_path / "off", sink, scenario, inhibit=False)
    after = _run(docker_client, images, tmp_path / "on", sink, scenario, inhibit=True)
    print(f"\n{scenario}: {len(alerts)} alerts, notifications before inhibition {len(before)}, "
          f"after {len(after)}")
    assert len(before) == before_count, [n["commonLabels"] for n in before]
    assert len(after) == 1, [n["commonLabels"] for n in after]
    notification = after[0]
    assert notification["commonLabels"]["alertname"] == survivor
    assert notification["status"] == "firing"
    # What a notification hub needs, straight from the webhook payload.
    assert notification["externalURL"] == EXTERNAL_URL
    alert = notification["alerts"][0]
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == f"{survivor} summary"
    assert alert["annotations"]["description"] == f"{survivor} description"
    assert alert["annotations"]["dashboard"].startswith("https://grafana.example.com/d/")
    assert alert["generatorURL"].startswith(PROMETHEUS_URL + "/graph")
