"""prometheus_targets against a real Prometheus (offline image), run through Ansible.

The Prometheus container is vpsmon-it-targets on a random loopback port; it
scrapes itself, and after a config reload also a job whose target refuses
connections, so the module must name it with Prometheus' own lastError.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from pathlib import Path

import pytest
import yaml
from support import adhoc

NAME = "vpsmon-it-targets"


def config(jobs):
    return yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in jobs],
    })


@pytest.fixture(scope="module")
def prometheus(images, docker_client):
    workdir = Path(tempfile.mkdtemp(prefix="vpsmon-it-targets-"))
    workdir.chmod(0o755)
    cfg = workdir / "prometheus.yml"
    cfg.write_text(config([("prometheus", "127.0.0.1:9090")]))
    cfg.chmod(0o644)
    try:
        docker_client.containers.get(NAME).remove(force=True)
    except Exception:  # noqa: BLE001 - absent is the normal case
        pass
    container = docker_client.containers.run(
        images["prometheus_image"], name=NAME, detach=True, user="65534",
        entrypoint=["/bin/prometheus"],
        command=["--config.file=%s" % cfg, "--storage.tsdb.path=/tmp/data", "--web.enable-lifecycle"],
        volumes={str(workdir): {"bind": str(workdir), "mode": "ro"}},
        ports={"9090/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["9090/tcp"][0]["HostPort"]
        yield {"url": "http://127.0.0.1:%s" % port, "config": cfg}
    finally:
        container.remove(force=True)
        shutil.rmtree(workdir, ignore_errors=True)


def run_module(args):
    return adhoc.run_module("vps.monitoring.prometheus_targets", args)


def test_waits_for_startup_then_reports_a_down_target(prometheus):
    # Started moments ago: the module must poll through "connection refused" and "unknown" health.
    result = run_module({"url": prometheus["url"], "expected_jobs": ["prometheus"], "timeout": 60,
                         "interval": 0.5})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    assert [(t["job"], t["health"]) for t in result["targets"]] == [("prometheus", "up")]
    assert result["targets"][0]["scrape_url"] == "http://127.0.0.1:9090/metrics"

    prometheus["config"].write_text(config([("prometheus", "127.0.0.1:9090"), ("node-exporter", "127.0.0.1:9")]))
    request = urllib.request.Request(prometheus["url"] + "/-/reload", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200

    result = run_module({"url": prometheus["url"], "expected_jobs": ["prometheus", "alertmanager"],
                         "timeout": 8, "interval": 0.5})
    assert result["failed"]
    assert "job=node-exporter instance=127.0.0.1:9 health=down lastError=" in result["msg"]
    assert "connection refused" in result["msg"]
    assert "job=alertmanager: no active target" in result["msg"]
    assert result["missing_jobs"] == ["alertmanager"]
    assert 7 <= result["elapsed"] < 20


def test_unreachable_prometheus_fails_without_printing_credentials():
    result = run_module({"url": "http://127.0.0.1:9", "timeout": 1, "interval": 0.2,
                         "url_username": "admin", "url_password": "hunter2-secret"})
    assert result["failed"]
    assert "cannot read scrape targets from http://127.0.0.1:9" in result["msg"]
    assert "hunter2-secret" not in json.dumps(result)
