"""The otel_collector role with otel_collector_implementation=otlp_receiver,
run for real against this engine under test names (container
vpsmon-it-otlp-role, network vpsmon-it-otlp-role-net, own ports and base dir):
it builds the image, starts the container healthy, answers OTLP on the
published ports only, a second run and a --check --diff run change nothing,
and a bad value fails before anything changes, naming the variable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

from stack_run import free_port, recap

ROOT = Path(__file__).resolve().parents[2]
NAME = "vpsmon-it-otlp-role"


@pytest.fixture(scope="module")
def role_run(docker_client, images):
    tmp = Path(tempfile.mkdtemp(prefix=f"{NAME}-"))
    ports = {"grpc": free_port(), "http": free_port(), "health": free_port()}
    extra = {
        "ansible_python_interpreter": str(ROOT / ".venv/bin/python"),
        "stack_base_dir": str(tmp / "base"), "stack_network": f"{NAME}-net",
        "stack_otel_implementation": "otlp_receiver", "otel_collector_container_name": NAME,
        "otel_collector_grpc_port": ports["grpc"], "otel_collector_http_port": ports["http"],
        "otel_collector_health_port": ports["health"],
        "otel_collector_receiver_base_image": images["docker_exporter_base_image"],
    }
    play = tmp / "play.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: vps.monitoring.otel_collector\n")

    def run(*flags, **more):
        return subprocess.run(
            [str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
             "-e", json.dumps({**extra, **more}), str(play), *flags],
            capture_output=True, text=True, check=False,
            env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache/collections"), "ANSIBLE_NOCOLOR": "1"})
    try:
        yield run, ports
    finally:
        for remove in (lambda: docker_client.containers.get(NAME).remove(force=True),
                       lambda: docker_client.networks.get(f"{NAME}-net").remove()):
            try:
                remove()
            except Exception:  # noqa: BLE001 - already gone
                pass
        shutil.rmtree(tmp, ignore_errors=True)


def test_role_deploys_idempotently_and_answers_otlp(role_run, docker_client):
    run, ports = role_run
    first = run()
    assert first.returncode == 0, first.stdout[-3000:]
    second = run()
    assert second.returncode == 0 and recap(second.stdout)["changed"] == 0, second.stdout[-3000:]
    check = run("--check", "--diff")
    assert check.returncode == 0 and recap(check.stdout)["changed"] == 0, check.stdout[-3000:]
    container = docker_client.containers.get(NAME)
    assert container.attrs["State"]["Health"]["Status"] in ("healthy", "starting")
    published = {k for k, v in container.attrs["NetworkSettings"]["Ports"].items() if v}
    assert published == {"4317/tcp", "4318/tcp", "13133/tcp"}, "8889 stays on the stack network"
    assert container.attrs["HostConfig"]["ReadonlyRootfs"] and container.attrs["Config"]["User"] == "65534:65534"
    r = requests.post(f"http://127.0.0.1:{ports['http']}/v1/logs", data=b"", timeout=5,
                      headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200
    assert requests.get(f"http://127.0.0.1:{ports['health']}/", timeout=5).json()["status"] == "Server available"


def test_bad_value_fails_before_any_change(role_run, docker_client):
    run, _ports = role_run
    before = docker_client.containers.get(NAME).id if docker_client.containers.list(filters={"name": NAME}) else None
    out = run(otel_collector_receiver_max_series=0)
    assert out.returncode != 0
    assert "otel_collector_receiver_max_series=0 must be at least 1" in out.stdout
    assert recap(out.stdout)["changed"] == 0
    after = docker_client.containers.get(NAME).id if docker_client.containers.list(filters={"name": NAME}) else None
    assert before == after
