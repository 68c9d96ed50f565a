"""The boot-time half of docker_host's forward guard: the script
(templates/forward-guard.sh.j2) that vps-monitoring-forward-guard.service
runs at boot and on every engine start, and the unit itself.

The script is rendered from the role's own template and variables and run
for real against this engine and its iptables, on networks of its own
(vpsmon-it-fgs-*): it finds each bridge by network name (br-<id> or a named
bridge), adds the rule once however often it runs, and removes exactly it.
This machine runs no systemd, so the unit is checked with systemd-analyze
verify (syntax, ordering, the ExecStart binary) rather than booted.

Needs root and iptables.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "vpsmon-it-fgs"
MATCH = ["-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("iptables"),
                                reason="needs root and iptables")


def has_rule(bridge: str) -> bool:
    return subprocess.run(["iptables", "-w", "-C", "DOCKER-USER", "!", "-i", bridge, "-o", bridge, *MATCH],
                          capture_output=True, check=False).returncode == 0


def rule_count(bridge: str) -> int:
    rules = subprocess.run(["iptables", "-w", "-S", "DOCKER-USER"], capture_output=True, text=True,
                           check=True).stdout
    return sum(1 for line in rules.splitlines() if f"-o {bridge} " in line)


@pytest.fixture(scope="module")
def rendered(docker_client):
    work = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    play = work / "render.yml"
    play.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(ROOT / "roles/docker_host/defaults/main.yml"), str(ROOT / "roles/docker_host/vars/main.yml")],
        "tasks": [
            {"ansible.builtin.template": {"src": str(ROOT / "roles/docker_host/templates/forward-guard.sh.j2"),
                                          "dest": str(work / "guard.sh"), "mode": "0755"}},
            {"ansible.builtin.template": {"src": str(ROOT / "roles/docker_host/templates/forward-guard.service.j2"),
                                          "dest": str(work / "guard.service"), "mode": "0644"}},
        ]}]))
    out = subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
                          "-e", f"ansible_python_interpreter={ROOT / '.venv/bin/python'}",
                          "-e", json.dumps({"docker_host_forward_guard_networks": [f"{PREFIX}-a", f"{PREFIX}-b"]}),
                          str(play)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout[-3000:]
    # One network with Docker's bridge name, one with a bridge named by option.
    net_a = docker_client.networks.create(f"{PREFIX}-a", driver="bridge")
    net_b = docker_client.networks.create(f"{PREFIX}-b", driver="bridge",
                                          options={"com.docker.network.bridge.name": "vpsmon-fgs-b"})
    bridges = {"a": "br-" + net_a.id[:12], "b": "vpsmon-fgs-b"}
    try:
        yield {"script": work / "guard.sh", "unit": work / "guard.service", "bridges": bridges}
    finally:
        for bridge in bridges.values():
            while has_rule(bridge):
                subprocess.run(["iptables", "-w", "-D", "DOCKER-USER", "!", "-i", bridge, "-o", bridge, *MATCH],
                               check=False)
        net_a.remove()
        net_b.remove()
        shutil.rmtree(work, ignore_errors=True)


def guard(rendered: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(rendered["script"]), *args], capture_output=True, text=True, check=False)


def test_script_adds_each_rule_once_and_removes_exactly_it(rendered):
    a, b = rendered["bridges"]["a"], rendered["bridges"]["b"]
    nets = [f"{PREFIX}-a", f"{PREFIX}-b"]
    assert guard(rendered, "check", *nets).returncode == 1
    for _start in range(3):  # at boot, then on every engine start
        out = guard(rendered, "add", *nets)
        assert out.returncode == 0, out.stderr
    assert has_rule(a) and has_rule(b)
    assert rule_count(a) == 1 and rule_count(b) == 1
    assert guard(rendered, "check", *nets).returncode == 0
    # The rule sits before Docker's RETURN.
    rules = subprocess.run(["iptables", "-w", "-S", "DOCKER-USER"], capture_output=True, text=True,
                           check=True).stdout
    assert rules.index(a) < rules.index("-j RETURN")
    out = guard(rendered, "delete", f"{PREFIX}-a")
    assert out.returncode == 0 and not has_rule(a) and has_rule(b)
    assert guard(rendered, "delete", f"{PREFIX}-b").returncode == 0 and not has_rule(b)


def test_script_skips_a_missing_network_and_refuses_bad_input(rendered):
    out = guard(rendered, "add", f"{PREFIX}-absent")
    assert out.returncode == 0 and "not found" in out.stderr
    assert guard(rendered, "frobnicate", f"{PREFIX}-a").returncode == 2
    assert guard(rendered, "add", "host").returncode == 1  # not a bridge network
    assert not has_rule(rendered["bridges"]["a"])


def test_unit_runs_the_script_after_the_engine(rendered):
    unit = rendered["unit"].read_text()
    assert "After=docker.service" in unit and "PartOf=docker.service" in unit
    assert "WantedBy=docker.service" in unit and "RemainAfterExit=yes" in unit
    assert f"ExecStart=/usr/local/sbin/vps-monitoring-forward-guard add {PREFIX}-a {PREFIX}-b" in unit
    if not shutil.which("systemd-analyze"):
        pytest.skip("no systemd-analyze")
    # verify wants the ExecStart binary and the unit's own name: a scratch root with both.
    root = rendered["script"].parent / "root"
    (root / "usr/local/sbin").mkdir(parents=True, exist_ok=True)
    shutil.copy(rendered["script"], root / "usr/local/sbin/vps-monitoring-forward-guard")
    (root / "etc/systemd/system").mkdir(parents=True, exist_ok=True)
    target = root / "etc/systemd/system/vps-monitoring-forward-guard.service"
    target.write_text(unit.replace("/usr/local/sbin/", f"{root}/usr/local/sbin/"))
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", str(target)], capture_output=True, text=True,
                         check=False)
    problems = [ln for ln in out.stderr.splitlines()
                if "vps-monitoring-forward-guard" in ln and "docker.service" not in ln]
    assert problems == [], out.stderr


def test_uninstall_removes_the_stack_networks_rule_with_the_network(images, docker_client):
    """playbooks/uninstall.yml takes the DOCKER-USER rule of the stack network's bridge away too."""
    from stack_run import isolated_vars, ok, remove_stack, run_playbook  # noqa: PLC0415 - integration helper

    prefix = f"{PREFIX}-un"
    remove_stack(docker_client, prefix)
    network = docker_client.networks.create(f"{prefix}-net", driver="bridge")
    bridge = "br-" + network.id[:12]
    base = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    try:
        subprocess.run(["iptables", "-w", "-I", "DOCKER-USER", "!", "-i", bridge, "-o", bridge, *MATCH], check=True)
        assert has_rule(bridge)
        # The engine is "managed" here only so that the guard is removed; the
        # containers named after the prefix do not exist, so nothing else goes.
        variables = isolated_vars(prefix, base, images, docker_host_manage=True,
                                  docker_host_forward_guard_persist=False)
        out = ok(run_playbook("uninstall.yml", variables))
        assert not has_rule(bridge), "the forward guard rule outlived the network"
        assert not docker_client.networks.list(names=[f"{prefix}-net"])
        assert "Remove the stack network's forward guard" in out
    finally:
        while has_rule(bridge):
            subprocess.run(["iptables", "-w", "-D", "DOCKER-USER", "!", "-i", bridge, "-o", bridge, *MATCH], check=False)
        remove_stack(docker_client, prefix)
        shutil.rmtree(base, ignore_errors=True)
