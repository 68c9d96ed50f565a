"""Topology changes keep the stack wired: site.yml twice, the second run with three changes.

A stack of the test's own (containers vpsmon-it-topo-*, network
vpsmon-it-topo-net, random loopback ports, a temporary stack_base_dir) runs
Prometheus, Alertmanager, node-exporter, the Docker exporter and the OTLP
collector from the offline images. The first converge uses the defaults (the
collection's OTLP receiver); the second changes, all at once,
docker_exporter_port, alertmanager_container_name and the collector's
implementation (otlp_receiver -> vmagent). After each run every Prometheus
target is up, Prometheus has discovered the Alertmanager under its current
name, the Grafana data source URL the grafana role would register points at
Prometheus, and status.yml reports the current addresses. After the change
the container of the old Alertmanager name is gone.
"""

from __future__ import annotations

import re
import tempfile

import pytest
import yaml
from conftest import ROOT, wait_until
from stack_run import api, free_port, isolated_vars, ok, own_stack, run_playbook

PREFIX = "vpsmon-it-topo"
# The components the test deploys; Grafana, the front door, blackbox and
# VictoriaMetrics stay off (isolated_vars names their containers too).
EXPECTED_JOBS = {"prometheus", "alertmanager", "node-exporter", "docker-exporter", "otel-collector"}
# Prints the data source URL the grafana role registers (its defaults over
# the stack's topology), without a Grafana: none runs offline.
GRAFANA_URL_PLAYBOOK_TEMPLATE = """
- name: Show the Prometheus data source URL of the grafana role
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Load the stack's topology
      ansible.builtin.include_role:
        name: vps.monitoring.stack
        tasks_from: topology
        public: true

    - name: Load the grafana role's defaults
      ansible.builtin.include_vars:
        file: "{root}/roles/grafana/defaults/main.yml"

    - name: Print the data source URL
      ansible.builtin.debug:
        msg: "GRAFANA_PROMETHEUS_URL={{{{ grafana_prometheus_url }}}}"
"""


@pytest.fixture(scope="module")
def stack(images, docker_client):
    with own_stack(docker_client, PREFIX) as base:
        variables = isolated_vars(
            PREFIX, base, images,
            stack_enable_alertmanager=True,
            stack_enable_node_exporter=True,
            stack_enable_docker_exporter=True,
            stack_enable_otel_collector=True,
            stack_otel_implementation="otlp_receiver",
            alertmanager_image=images["alertmanager_image"],
            node_exporter_image=images["node_exporter_image"],
            docker_exporter_base_image=images["docker_exporter_base_image"],
            otel_collector_receiver_base_image=images["otel_collector_receiver_base_image"],
            otel_collector_vmagent_image=images["otel_collector_vmagent_image"],
            alertmanager_port=free_port(),
            node_exporter_port=free_port(),
            docker_exporter_port=free_port(),
            otel_collector_grpc_port=free_port(),
            otel_collector_http_port=free_port(),
            otel_collector_health_port=free_port(),
            otel_collector_metrics_port=free_port(),
            otel_collector_vmagent_port=free_port(),
            alertmanager_memory_limit="128m",
            prometheus_scrape_interval="2s",
            prometheus_scrape_timeout="2s",
            prometheus_evaluation_interval="2s")
        yield {"vars": variables, "base": base}


def status_lines(output: str) -> dict:
    """status.yml's lines by component: (state, url)."""
    found = {}
    for name, state, url in re.findall(r'"(\S+)\s+(healthy|running|unhealthy|starting|not deployed)\s+([^\s"]+)', output):
        found[name] = (state, url)
    return found


def assert_wired(variables: dict, output: str) -> None:
    prom = f"http://127.0.0.1:{variables['prometheus_port']}"
    am_name = variables["alertmanager_container_name"]

    # Every target of every expected job is up (the role waited for it; this
    # reads it again from Prometheus itself, and names what is not).
    def all_up():
        targets = api(prom, "/api/v1/targets", state="active")["data"]["activeTargets"]
        jobs = {t["labels"]["job"] for t in targets}
        down = [(t["labels"]["job"], t["scrapeUrl"], t["health"], t["lastError"])
                for t in targets if t["health"] != "up"]
        all_up.last = (sorted(jobs), down)
        return EXPECTED_JOBS <= jobs and not down
    all_up.last = None
    try:
        wait_until(all_up, 60, what="every target up")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: jobs and targets not up: {all_up.last}") from None

    targets = api(prom, "/api/v1/targets", state="active")["data"]["activeTargets"]
    by_job = {t["labels"]["job"]: t["scrapeUrl"] for t in targets}
    assert by_job["docker-exporter"].startswith(
        f"http://{variables['docker_exporter_container_name']}:{variables['docker_exporter_port']}/"), by_job
    assert by_job["alertmanager"].startswith(f"http://{am_name}:9093/"), by_job
    collector_port = 8429 if variables["stack_otel_implementation"] == "vmagent" else 8889
    assert by_job["otel-collector"].startswith(
        f"http://{variables['otel_collector_container_name']}:{collector_port}/"), by_job

    # Prometheus sends alerts to the Alertmanager of the current name.
    def discovered():
        data = api(prom, "/api/v1/alertmanagers")["data"]
        discovered.last = data
        return [a["url"] for a in data["activeAlertmanagers"]] == [f"http://{am_name}:9093/api/v2/alerts"]
    discovered.last = None
    try:
        wait_until(discovered, 30, what="Prometheus discovering the Alertmanager")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {discovered.last}") from None

    # status.yml (the last play of site.yml) reports the current addresses.
    status = status_lines(output)
    expected = {
        "prometheus": f"http://127.0.0.1:{variables['prometheus_port']}/-/healthy",
        "alertmanager": f"http://127.0.0.1:{variables['alertmanager_port']}/-/healthy",
        "node-exporter": f"http://127.0.0.1:{variables['node_exporter_port']}/metrics",
        "docker-exporter": f"http://127.0.0.1:{variables['docker_exporter_port']}/healthz",
        "otel-collector": (f"http://127.0.0.1:{variables['otel_collector_vmagent_port']}/health"
                           if variables["stack_otel_implementation"] == "vmagent"
                           else f"http://127.0.0.1:{variables['otel_collector_health_port']}/"),
    }
    # The address, deployed: a container re-created moments ago may still
    # report its health check as starting (its targets are proven up above).
    for name, url in expected.items():
        assert name in status and status[name][1] == url and status[name][0] != "not deployed", (name, status)

    # The data source URL the grafana role would register: Prometheus by its name.
    with tempfile.NamedTemporaryFile("w", suffix=".yml", dir=variables["stack_base_dir"], delete=False) as handle:
        handle.write(GRAFANA_URL_PLAYBOOK_TEMPLATE.format(root=ROOT))
    out = ok(run_playbook(handle.name, variables, timeout=120))
    assert f"GRAFANA_PROMETHEUS_URL=http://{variables['prometheus_container_name']}:9090" in out, out[-2000:]


def test_changing_port_alertmanager_name_and_collector_keeps_every_target_up(stack, docker_client):
    variables = stack["vars"]
    assert_wired(variables, ok(run_playbook("site.yml", variables)))
    old_am = variables["alertmanager_container_name"]

    changed = dict(variables,
                   docker_exporter_port=free_port(),
                   alertmanager_container_name=f"{PREFIX}-am-renamed",
                   stack_otel_implementation="vmagent")
    assert_wired(changed, ok(run_playbook("site.yml", changed)))

    names = {c.name for c in docker_client.containers.list(all=True, filters={"name": PREFIX})}
    assert old_am not in names, f"the container of the old Alertmanager name is left: {sorted(names)}"
    assert changed["alertmanager_container_name"] in names
    config = yaml.safe_load((stack["base"] / "prometheus" / "config" / "prometheus.yml").read_text())
    rendered = yaml.safe_dump(config)
    assert old_am not in rendered, "prometheus.yml still names the old Alertmanager"
