"""The grafana role registers VictoriaMetrics as a second data source.

Grafana has no image here: the role's registration part (tasks_from:
register) runs against the Grafana API TEST DOUBLE (tests/grafana_double,
not Grafana) in container vpsmon-it-gvm-double. With
stack_enable_victoriametrics the data source uid victoriametrics points at
the stack's VictoriaMetrics; grafana_victoriametrics_url moves it to a
cluster; without either there is none.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import requests
from conftest import ROOT, wait_until
from stack_run import free_port, isolated_vars, ok, remove_stack, run_playbook

PREFIX = "vpsmon-it-gvm"
PASSWORD = "gvm-double-secret"  # the TEST DOUBLE's admin password, nothing real
PLAYBOOK = """
- name: Register with the grafana role (against the Grafana API TEST DOUBLE)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Register the data sources, folder and dashboards
      ansible.builtin.include_role:
        name: vps.monitoring.grafana
        tasks_from: register
"""


@pytest.fixture(scope="module")
def double(images, docker_client):
    port = free_port()
    for old in docker_client.containers.list(all=True, filters={"name": f"{PREFIX}-double"}):
        old.remove(force=True)
    container = docker_client.containers.run(
        images["docker_exporter_base_image"], name=f"{PREFIX}-double", detach=True,
        command=["python3", "/double/server.py", "--host=0.0.0.0", "--port=3000", f"--admin-password={PASSWORD}"],
        volumes={str(ROOT / "tests" / "grafana_double"): {"bind": "/double", "mode": "ro"}},
        ports={"3000/tcp": ("127.0.0.1", port)})
    url = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="vpsmon-it-gvm-"))
    try:
        wait_until(lambda: requests.get(f"{url}/api/health", timeout=2).ok, 60, what="the Grafana API TEST DOUBLE")
        yield {"url": url, "work": work}
    finally:
        container.remove(force=True)
        # The stack role (a dependency of the grafana role) made the network.
        remove_stack(docker_client, PREFIX)
        shutil.rmtree(work, ignore_errors=True)


def register(double, images, **extra):
    (double["work"] / "register.yml").write_text(PLAYBOOK)
    variables = isolated_vars(PREFIX, double["work"] / "stack", images,
                              grafana_api_url=double["url"], grafana_admin_password=PASSWORD,
                              grafana_token_file=str(double["work"] / "token"), grafana_wait_timeout=60,
                              grafana_promtool_image=images["prometheus_image"], **extra)
    return ok(run_playbook(str(double["work"] / "register.yml"), variables))


def datasource(double, uid):
    resp = requests.get(f"{double['url']}/api/datasources/uid/{uid}", auth=("admin", PASSWORD), timeout=10)
    return resp.json() if resp.ok else None


def test_no_long_term_data_source_without_victoriametrics(double, images):
    register(double, images)
    assert datasource(double, "prometheus")["isDefault"] is True
    assert datasource(double, "victoriametrics") is None


def test_victoriametrics_is_the_second_data_source(double, images):
    register(double, images, stack_enable_victoriametrics=True)
    found = datasource(double, "victoriametrics")
    assert found["type"] == "prometheus"
    assert found["url"] == f"http://{PREFIX}-victoriametrics:8428"
    assert found["isDefault"] is False
    assert datasource(double, "prometheus")["isDefault"] is True


def test_grafana_victoriametrics_url_points_it_at_a_cluster(double, images):
    cluster = "http://vmselect:8481/select/0/prometheus"
    out = register(double, images, stack_enable_victoriametrics=False, grafana_victoriametrics_url=cluster)
    assert datasource(double, "victoriametrics")["url"] == cluster
    assert PASSWORD not in out
    assert json.dumps(PASSWORD) not in out
