"""Targets from the inventory: adding or removing a monitored host rewrites only the file_sd file.

The prometheus role runs on this machine (tests/integration/prometheus_role.yml)
with a stack of the test's own (containers vpsmon-it-msd-*, network
vpsmon-it-msd-net, a temporary stack_base_dir) and an inventory whose
``monitored`` group changes between runs. The monitored hosts' exporter is a
real node-exporter container (offline image) on the stack network; the hosts
reach it through prometheus_scrape_address, and it is the local target too
(the job's static target, node_exporter_container_name). Each change must show up in
Prometheus's targets while prometheus.yml, the rules, the container
(StartedAt) and the config reload timestamp stay exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, wait_until
from stack_run import api, changed_tasks, free_port, isolated_vars, ok, remove_stack, tls_get

PREFIX = "vpsmon-it-msd"
# isolated_vars names the local node-exporter container so.
NODE = f"{PREFIX}-node-exporter"
PLAYBOOK = ROOT / "tests" / "integration" / "prometheus_role.yml"


def inventory(path: Path, monitored: list[str]) -> Path:
    hosts = {name: {"prometheus_scrape_address": NODE, "node_exporter_port": 9100,
                    "stack_enable_docker_exporter": False} for name in monitored}
    path.write_text(yaml.safe_dump({"all": {
        "hosts": {"localhost": {"ansible_connection": "local",
                                "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")}},
        "children": {"monitored": {"hosts": hosts}}}}))
    return path


def run_role(variables: dict, inv: Path, playbook: Path = PLAYBOOK) -> str:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    varfile = inv.with_suffix(".vars.json")
    varfile.write_text(json.dumps(variables))
    return ok(subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inv), "-e", f"@{varfile}", str(playbook)],
        capture_output=True, text=True, env=env, check=False, timeout=900))


def recap_changed(out: str) -> int:
    return int(re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)\s", out).group(1))


def config_files(config: Path) -> dict:
    return {str(p.relative_to(config)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(config.rglob("*")) if p.is_file()}


def reload_state(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {name: float(re.search(rf"^{name} (\S+)$", text, re.M).group(1))
            for name in ("prometheus_config_last_reload_success_timestamp_seconds",
                         "prometheus_config_last_reload_successful")}


def node_targets(url: str) -> dict:
    active = api(url, "/api/v1/targets", state="active")["data"]["activeTargets"]
    return {t["labels"]["instance"]: t["health"] for t in active if t["labels"]["job"] == "node-exporter"}


@pytest.fixture(scope="module")
def stack(images, docker_client):
    base = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    base.chmod(0o755)
    remove_stack(docker_client, PREFIX)
    # The role alone runs (not node_exporter's): the test starts the exporter.
    variables = isolated_vars(PREFIX, base, images, stack_enable_node_exporter=True,
                              prometheus_scrape_interval="2s", prometheus_scrape_timeout="2s",
                              prometheus_evaluation_interval="2s")
    variables["ansible_python_interpreter"] = str(ROOT / ".venv" / "bin" / "python")
    try:
        docker_client.networks.create(variables["stack_network"], driver="bridge")
        docker_client.containers.run(
            images["node_exporter_image"], name=NODE, detach=True, user="65534",
            network=variables["stack_network"], command=["--web.listen-address=:9100"])
        yield {"vars": variables, "base": base, "config": base / "prometheus" / "config",
               "url": f"http://127.0.0.1:{variables['prometheus_port']}", "images": images}
    finally:
        remove_stack(docker_client, PREFIX)
        shutil.rmtree(base, ignore_errors=True)


def test_an_empty_group_gives_an_empty_target_list(stack):
    out = run_role(stack["vars"], inventory(stack["base"] / "inv-empty.yml", []))
    target_file = stack["config"] / "file_sd" / "node-exporter.json"
    assert target_file.read_text() == "[]\n"
    assert oct(target_file.stat().st_mode & 0o777) == "0o644"
    config = yaml.safe_load((stack["config"] / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "node-exporter"]
    assert job["file_sd_configs"] == [{"files": ["file_sd/node-exporter.json"]}]
    assert "Write the monitored hosts' file_sd targets" in out
    assert node_targets(stack["url"]) == {f"{NODE}:9100": "up"}


def test_adding_and_removing_hosts_changes_only_the_file_sd_file(stack, docker_client):
    container = docker_client.containers.get(stack["vars"]["prometheus_container_name"])
    started = container.attrs["State"]["StartedAt"]
    reloads = reload_state(stack["url"])
    assert reloads["prometheus_config_last_reload_successful"] == 1
    before = config_files(stack["config"])

    for step, monitored in enumerate((["mon-a", "mon-b"], ["mon-a"])):
        out = run_role(stack["vars"], inventory(stack["base"] / f"inv-{step}.yml", monitored))
        # Prometheus watches the file: the new set of targets, healthy, with
        # instance = inventory hostname, and nothing else touched.
        wanted = dict.fromkeys([f"{NODE}:9100", *monitored], "up")
        wait_until(lambda w=wanted: node_targets(stack["url"]) == w, 60,
                   what=f"node-exporter targets {monitored}")
        after = config_files(stack["config"])
        assert {k for k in after if after[k] != before.get(k)} == {"file_sd/node-exporter.json"}, (before, after)
        assert json.loads((stack["config"] / "file_sd" / "node-exporter.json").read_text()) == [
            {"labels": {"instance": name}, "targets": [f"{NODE}:9100"]} for name in monitored]
        assert [task for task in changed_tasks(out) if "file_sd targets" not in task] == [], out[-4000:]
        assert recap_changed(out) == 1, changed_tasks(out)
        assert "Reload Prometheus" not in out
        container.reload()
        assert container.attrs["State"]["StartedAt"] == started
        assert reload_state(stack["url"]) == reloads
        before = after


# Test-only credentials (the bcrypt hash of the password, cost 10).
WEB_USER, WEB_PASSWORD = "ops", "it-only-web-secret-1"
WEB_HASH = "$2b$10$Q1b..Mvc40hetLXUY6m9zecgIOPeGxW2DYHGmY7AmdOBThg6XmWce"
TLS_NODE = f"{PREFIX}-tls"
# The "monitored host" is this machine: its exporter has a network of its own
# and is published on the Docker bridge's gateway, a private address the
# Prometheus container reaches, as a monitored host's private address.
TLS_NETWORK = f"{PREFIX}-tls-net"
BRIDGE = os.environ.get("VPSMON_DOCKER_BRIDGE_IP", "172.17.0.1")


def certificates(workdir: Path, address: str) -> tuple[str, str, str]:
    """A CA, and a server certificate and key for IP address `address` signed by it (PEM)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=workdir)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=vpsmon-it-ca",
            "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={address}", "-keyout", "node.key", "-out", "node.csr")
    (workdir / "san.ext").write_text(f"subjectAltName=IP:{address}\n")
    openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "node.crt")
    return tuple((workdir / f).read_text() for f in ("ca.crt", "node.crt", "node.key"))


def status(url: str, password: str | None = None) -> int:
    return tls_get(url, WEB_USER, password)[0]


def test_a_monitored_node_exporter_behind_tls_and_basic_auth(stack, docker_client):
    """node_exporter's web config (component web_config) and the job's client side, end to end."""
    workdir = stack["base"] / "tls"
    workdir.mkdir()
    ca, cert, key = certificates(workdir, BRIDGE)
    port = free_port()
    web = {"node_exporter_web_basic_auth_users": {WEB_USER: WEB_HASH}, "node_exporter_web_username": WEB_USER,
           "node_exporter_web_password": WEB_PASSWORD, "node_exporter_web_tls_cert": cert,
           "node_exporter_web_tls_key": key}
    try:
        ok_out = run_role(dict(stack["vars"], **web, node_exporter_container_name=TLS_NODE, node_exporter_port=port,
                               stack_network=TLS_NETWORK, node_exporter_bind_address=BRIDGE,
                               node_exporter_dir=str(workdir / "node_exporter"),
                               node_exporter_image=stack["images"]["node_exporter_image"],
                               node_exporter_promtool_image=stack["images"]["prometheus_image"]),
                          inventory(workdir / "inv-node.yml", []), ROOT / "tests" / "integration" / "node_exporter_role.yml")
        assert "Validate the staged web config with promtool check web-config" in ok_out
        scrape_via_tls(stack, workdir, web, ca, port)
    finally:
        remove_stack(docker_client, TLS_NODE)
        for network in docker_client.networks.list(names=[TLS_NETWORK]):
            network.remove()


def scrape_via_tls(stack, workdir, web, ca, port):
    url = f"https://{BRIDGE}:{port}/metrics"
    assert status(url) == 401
    assert status(url, WEB_PASSWORD) == 200

    # The monitored host's variables say it has TLS and basic auth; the
    # monitoring host's say how to get in.
    inv = workdir / "inv-prom.yml"
    inventory(inv, ["mon-a"])
    data = yaml.safe_load(inv.read_text())
    data["all"]["children"]["monitored"]["hosts"]["mon-tls"] = dict(
        node_exporter_bind_address=BRIDGE, node_exporter_port=port, stack_enable_docker_exporter=False, **web)
    inv.write_text(yaml.safe_dump(data))
    run_role(dict(stack["vars"], prometheus_node_exporter_username=WEB_USER,
                  prometheus_node_exporter_password=WEB_PASSWORD, prometheus_node_exporter_tls_ca=ca), inv)
    wait_until(lambda: node_targets(stack["url"]).get("mon-tls") == "up", 60, what="mon-tls scraped over https")
    active = api(stack["url"], "/api/v1/targets", state="active")["data"]["activeTargets"]
    [target] = [t for t in active if t["labels"]["instance"] == "mon-tls"]
    assert target["scrapeUrl"] == url
    assert node_targets(stack["url"])["mon-a"] == "up"
    password_file = stack["config"] / "node_exporter_password"
    assert password_file.read_text() == WEB_PASSWORD
    assert oct(password_file.stat().st_mode & 0o777) == "0o400"
