"""The blackbox_exporter role deploys a real blackbox-exporter that probes
a real local endpoint (up) and a dead one (down).

The role runs through ansible-playbook with container, network and
directory names the test owns (vpsmon-it-bb-*). Its stack dependency
removes the containers of disabled components, so every stack_enable_* flag
is turned on: nothing of the real stack is touched. A second run must
change nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import requests
import yaml

from conftest import ROOT, wait_until
from stack_run import free_port

PLAYBOOK = ROOT / "tests" / "integration" / "blackbox_role.yml"
NETWORK = "vpsmon-it-bb-net"
EXPORTER = "vpsmon-it-bb-exporter"
TARGET = "vpsmon-it-bb-target"


@pytest.fixture(scope="module")
def deployed(docker_client, images, tmp_path_factory):
    base = tmp_path_factory.mktemp("bb")
    os.chmod(base, 0o755)
    port = free_port()
    network = docker_client.networks.create(NETWORK, driver="bridge")
    # A real HTTP endpoint on the test network: the python-base image serving a directory.
    target = docker_client.containers.run(
        images["docker_exporter_base_image"], ["python3", "-m", "http.server", "8000"], name=TARGET,
        detach=True, network=NETWORK, entrypoint=[], working_dir="/tmp")
    extra = {
        "stack_network": NETWORK, "stack_base_dir": str(base),
        "blackbox_exporter_image": images["blackbox_exporter_image"],
        "blackbox_exporter_container_name": EXPORTER, "blackbox_exporter_port": port,
        "blackbox_exporter_targets": [f"http://{TARGET}:8000/"],
        "stack_image_pull_policy": "never",
    }
    stack_defaults = yaml.safe_load((ROOT / "roles" / "stack" / "defaults" / "main.yml").read_text())
    extra.update({k: True for k in stack_defaults if k.startswith("stack_enable_")})

    def play(*args):
        return subprocess.run(
            # Later -e wins: a test's own args come last.
            ["ansible-playbook", "-i", "localhost,", str(PLAYBOOK), "-e", json.dumps(extra),
             "-e", f"ansible_python_interpreter={sys.executable}", *args],
            capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, ANSIBLE_NOCOLOR="1"), check=False)

    try:
        first = play()
        yield {"url": f"http://127.0.0.1:{port}", "first": first, "play": play, "base": base}
    finally:
        for name in (EXPORTER, EXPORTER + "-config-check", TARGET):
            try:
                docker_client.containers.get(name).remove(force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        network.remove()


def _probe(url: str, target: str) -> dict[str, float]:
    text = requests.get(url + "/probe", params={"module": "http_2xx", "target": target}, timeout=15).text
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(probe_\w+) (\S+)$", text, re.M)}


def test_role_deploys_a_hardened_exporter(deployed, docker_client):
    assert deployed["first"].returncode == 0, deployed["first"].stdout[-3000:]
    attrs = docker_client.containers.get(EXPORTER).attrs
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] == "65534:65534"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Memory"] == 128 * 1024 * 1024


def test_live_endpoint_probes_up_and_dead_one_down(deployed):
    assert deployed["first"].returncode == 0, deployed["first"].stdout[-3000:]
    url = deployed["url"]
    up = wait_until(lambda: (p := _probe(url, f"http://{TARGET}:8000/")).get("probe_success") == 1 and p,
                    timeout=30, what="a successful probe of the live endpoint")
    assert up["probe_http_status_code"] == 200
    assert up["probe_duration_seconds"] > 0
    # Nothing listens there: connection refused, probe_success 0.
    down = _probe(url, f"http://{TARGET}:8009/")
    assert down["probe_success"] == 0
    assert down.get("probe_http_status_code", 0) == 0


def test_second_run_changes_nothing(deployed):
    assert deployed["first"].returncode == 0, deployed["first"].stdout[-3000:]
    second = deployed["play"]()
    assert second.returncode == 0, second.stdout[-3000:]
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0 ", second.stdout), second.stdout[-1500:]


def test_bad_values_are_refused_and_the_running_config_kept(deployed):
    assert deployed["first"].returncode == 0, deployed["first"].stdout[-3000:]
    live = deployed["base"] / "blackbox-exporter" / "config" / "blackbox.yml"
    before = live.read_text()
    bad = deployed["play"]("-e", json.dumps({"blackbox_exporter_preferred_ip_protocol": "ip5"}))
    assert bad.returncode != 0
    assert "blackbox_exporter_preferred_ip_protocol" in bad.stdout
    bad = deployed["play"]("-e", json.dumps({"blackbox_exporter_targets": ["n8n.example.com"]}))
    assert bad.returncode != 0
    assert "blackbox_exporter_targets[0]=n8n.example.com is not an http(s) URL" in bad.stdout
    assert live.read_text() == before
    assert _probe(deployed["url"], f"http://{TARGET}:8000/")["probe_success"] == 1
