"""Long-term storage and removal for real: site.yml deploys Prometheus and VictoriaMetrics.

A stack of the test's own (containers vpsmon-it-vm-*, network
vpsmon-it-vm-net, a temporary stack_base_dir) runs the offline Prometheus and
VictoriaMetrics images. Prometheus remote-writes into VictoriaMetrics; the
tests prove that samples written before a Prometheus restart are answered by
VictoriaMetrics, and that history Prometheus's retention has deleted still is.
Then switching VictoriaMetrics off removes its container and the remote
write, keeping its data, and playbooks/uninstall.yml removes the rest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import run_promtool, wait_until
from stack_run import api, free_port, isolated_vars, ok, remove_stack, run_playbook, samples

PREFIX = "vpsmon-it-vm"
PROBE = "vpsmon_history_probe"


@pytest.fixture(scope="module")
def stack(images, docker_client):
    base = Path(tempfile.mkdtemp(prefix="vpsmon-it-vm-"))
    remove_stack(docker_client, PREFIX)
    variables = isolated_vars(
        PREFIX, base, images,
        stack_enable_victoriametrics=True,
        victoriametrics_image=images["victoriametrics_image"],
        victoriametrics_port=free_port(),
        victoriametrics_memory_limit="512m",
        prometheus_scrape_interval="2s",
        prometheus_scrape_timeout="2s",
        prometheus_evaluation_interval="2s",
        prometheus_remote_write_batch_send_deadline="1s")
    try:
        ok(run_playbook("site.yml", variables))
        yield {
            "vars": variables,
            "base": base,
            "prom": f"http://127.0.0.1:{variables['prometheus_port']}",
            "vm": f"http://127.0.0.1:{variables['victoriametrics_port']}",
        }
    finally:
        remove_stack(docker_client, PREFIX)
        shutil.rmtree(base, ignore_errors=True)


def prometheus_ready(url):
    return wait_until(lambda: samples(url, 'up{job="prometheus"}[10s]', time.time()), 90,
                      what="Prometheus scraping itself again")


def test_deploy_wires_remote_write_retention_and_memory(stack, docker_client):
    config = yaml.safe_load((stack["base"] / "prometheus" / "config" / "prometheus.yml").read_text())
    [remote] = config["remote_write"]
    assert remote["url"] == f"http://{PREFIX}-victoriametrics:8428/api/v1/write"
    assert remote["queue_config"]["max_shards"] == 4
    assert remote["queue_config"]["capacity"] == 2500

    container = docker_client.containers.get(f"{PREFIX}-victoriametrics")
    assert "-retentionPeriod=12" in container.attrs["Args"]
    assert container.attrs["HostConfig"]["Memory"] == 512 * 1024 * 1024
    assert container.attrs["Config"]["User"] == "65534:65534"
    assert list(container.attrs["NetworkSettings"]["Networks"]) == [f"{PREFIX}-net"]


def test_prometheus_scrapes_victoriametrics_own_metrics(stack):
    config = yaml.safe_load((stack["base"] / "prometheus" / "config" / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "victoriametrics"]
    assert job["static_configs"] == [{"targets": [f"{PREFIX}-victoriametrics:8428"]}]
    # Up, and the series are VictoriaMetrics' own (its storage numbers).
    wait_until(lambda: api(stack["prom"], "/api/v1/query", query='up{job="victoriametrics"} == 1')["data"]["result"],
               60, what="the victoriametrics target up")
    wait_until(lambda: api(stack["prom"], "/api/v1/query",
                           query='vm_rows{job="victoriametrics"}')["data"]["result"],
               60, what="VictoriaMetrics' own vm_rows series in Prometheus")


def test_second_run_changes_nothing(stack):
    out = ok(run_playbook("site.yml", stack["vars"]))
    assert " changed=0 " in out, out[-3000:]


def test_samples_written_before_a_prometheus_restart_are_in_victoriametrics(stack, docker_client):
    # 29s with a 2s scrape interval: no sample sits on the window's left
    # edge, which Prometheus 2.x includes and VictoriaMetrics does not.
    expr = 'up{job="prometheus"}[29s]'
    before = prometheus_ready(stack["prom"])
    at = before[-1][0]
    before = samples(stack["prom"], expr, at)
    assert len(before) >= 5
    # Remote write is asynchronous: every sample Prometheus holds for that
    # window reaches VictoriaMetrics within a few batch deadlines.
    got = []

    def arrived():
        got[:] = samples(stack["vm"], expr, at)
        return got == before

    try:
        wait_until(arrived, 120, what="VictoriaMetrics holding Prometheus's samples")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: Prometheus {before}, VictoriaMetrics {got}") from None

    restarted = time.time()
    docker_client.containers.get(f"{PREFIX}-prometheus").restart(timeout=30)
    prometheus_ready(stack["prom"])

    assert samples(stack["vm"], expr, at) == before
    # And writing resumes after the restart.
    wait_until(lambda: samples(stack["vm"], 'up{job="prometheus"}[10s]', time.time())[-1][0] > restarted,
               120, what="samples written after the restart")


def test_history_older_than_prometheus_retention_is_answered_by_victoriametrics(stack, docker_client, images):
    # Two hours of a probe series, 40 days ago: beyond Prometheus's 15d.
    start = int(time.time()) - 40 * 86400
    start -= start % 7200
    lines = [f"# TYPE {PROBE} gauge"]
    lines += [f'{PROBE}{{source="backfill"}} {i} {start + 60 * i}' for i in range(120)]
    # Prometheus measures retention from its newest block, not the clock: a
    # recent one (4 to 3 hours ago, before the head) makes the old one expire.
    recent = int(time.time()) - 4 * 3600
    lines += [f'{PROBE}{{source="recent"}} {i} {recent + 60 * i}' for i in range(60)]
    work = Path(tempfile.mkdtemp(prefix="vpsmon-it-vm-blocks-"))
    try:
        (work / "history.om").write_text("\n".join(lines) + "\n# EOF\n")
        made = run_promtool(images["prometheus_image"],
                            ["tsdb", "create-blocks-from", "openmetrics", "history.om", "blocks"], work)
        assert made.returncode == 0, made.stderr
        blocks = [p for p in (work / "blocks").iterdir() if p.is_dir()]
        old = [b for b in blocks if json.loads((b / "meta.json").read_text())["maxTime"] / 1000 < start + 7200 + 1]
        assert old and len(old) < len(blocks)

        # VictoriaMetrics gets the history the documented way (vmctl from
        # Prometheus blocks), over the stack network.
        imported = subprocess.run(
            ["docker", "run", "--rm", "--user", "0", "--network", f"{PREFIX}-net", "-v", f"{work}/blocks:/blocks",
             "--entrypoint", "/vmctl-prod", images["victoriametrics_image"], "prometheus", "-s", "--disable-progress-bar",
             "--prom-snapshot=/blocks", f"--vm-addr=http://{PREFIX}-victoriametrics:8428"],
            capture_output=True, text=True, check=False, timeout=300)
        assert imported.returncode == 0, imported.stdout + imported.stderr

        # Prometheus gets the same blocks and drops them on start: they are
        # older than its retention.
        data = stack["base"] / "prometheus" / "data"
        for block in blocks:
            shutil.copytree(block, data / block.name)
            subprocess.run(["chown", "-R", "65534:65534", str(data / block.name)], check=True)
        docker_client.containers.get(f"{PREFIX}-prometheus").restart(timeout=30)
        prometheus_ready(stack["prom"])
        wait_until(lambda: not any((data / b.name).exists() for b in old), 60,
                   what="Prometheus deleting the blocks beyond its retention")

        at = start + 3600
        expr = f"{PROBE}[5m]"
        assert samples(stack["prom"], expr, at) == []
        history = wait_until(lambda: samples(stack["vm"], expr, at), 60,
                             what="VictoriaMetrics answering the old history")
        assert history[-1] == (float(at), "60")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_disabling_victoriametrics_removes_its_container_and_remote_write_keeps_data(stack, docker_client):
    data = stack["base"] / "victoriametrics" / "data"
    assert any(data.iterdir())
    out = ok(run_playbook("site.yml", dict(stack["vars"], stack_enable_victoriametrics=False)))
    assert "Remove the containers of the components that are off" in out
    assert not docker_client.containers.list(all=True, filters={"name": f"{PREFIX}-victoriametrics"})
    config = yaml.safe_load((stack["base"] / "prometheus" / "config" / "prometheus.yml").read_text())
    assert "remote_write" not in config
    # Prometheus took the new configuration (reload confirmed by the role).
    assert "remote_write" not in api(stack["prom"], "/api/v1/status/config")["data"]["yaml"]
    assert any(data.iterdir()), "the data directory was kept"


def test_uninstall_removes_containers_and_network_and_reports_kept_data(stack, docker_client):
    out = ok(run_playbook("uninstall.yml", stack["vars"]))
    assert not [c.name for c in docker_client.containers.list(all=True, filters={"name": PREFIX})
                if c.name.startswith(PREFIX)]
    assert not docker_client.networks.list(names=[f"{PREFIX}-net"])
    assert (stack["base"] / "prometheus" / "data").is_dir()
    assert "Kept (set uninstall_remove_data: true to remove the data too)" in out
    assert str(stack["base"] / "prometheus") in out

    out = ok(run_playbook("uninstall.yml", dict(stack["vars"], uninstall_remove_data=True)))
    assert not (stack["base"] / "prometheus").exists()
    assert not (stack["base"] / "victoriametrics").exists()
