"""Prometheus's own web config (TLS and basic auth), through the prometheus role.

The role runs for real against this machine's engine with its own container
(vpsmon-it-web-prom), network and directories. It proves: TLS and basic auth
on the listener, Prometheus scraping itself with the password file, a
password rotation applied without a restart, and bad web configs refused
before anything changes (preflight for a hash that is not bcrypt,
promtool check web-config for a key that does not match the certificate).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from stack_run import free_port, recap, self_signed, tls_get

ROOT = Path(__file__).resolve().parents[2]
NAME = "vpsmon-it-web-prom"
NETWORK = "vpsmon-it-web-net"
# Test-only credentials and their bcrypt hashes (cost 10).
USER = "ops"
PASSWORDS = {
    "it-only-web-secret-1": "$2b$10$Q1b..Mvc40hetLXUY6m9zecgIOPeGxW2DYHGmY7AmdOBThg6XmWce",
    "it-only-web-secret-2": "$2b$10$8mn9gVWF3gqi3fvePtR2/O90lx7397lMtJ7PJVii2LrleGV8j4loy",
}
FIRST, SECOND = list(PASSWORDS)


def get(url: str, password: str | None = None) -> tuple[int, str]:
    return tls_get(url, USER, password)


@pytest.fixture(scope="module")
def site(images, docker_client):
    workdir = Path(tempfile.mkdtemp(prefix="vpsmon-it-web-"))
    workdir.chmod(0o755)
    cert, key = self_signed(workdir, "good", "prometheus.test")
    _unused, other_key = self_signed(workdir, "other", "prometheus.test")
    port = free_port()
    base = {
        "ansible_python_interpreter": sys.executable,
        "stack_base_dir": str(workdir / "stack"),
        "stack_network": NETWORK,
        "stack_bind_address": "127.0.0.1",
        "stack_enable_alertmanager": False, "stack_enable_node_exporter": False,
        "stack_enable_docker_exporter": False, "stack_enable_docker_engine_metrics": False,
        "stack_enable_otel_collector": False, "stack_enable_grafana": False,
        "prometheus_image": images["prometheus_image"],
        "prometheus_container_name": NAME,
        "prometheus_port": port,
        "prometheus_scrape_interval": "2s", "prometheus_scrape_timeout": "1s",
        "prometheus_targets_timeout": 60,
        "prometheus_web_basic_auth_users": {USER: PASSWORDS[FIRST]},
        "prometheus_web_username": USER,
        "prometheus_web_password": FIRST,
        "prometheus_web_tls_cert": cert,
        "prometheus_web_tls_key": key,
    }
    yield {"dir": workdir, "vars": base, "url": f"https://127.0.0.1:{port}", "other_key": other_key}
    for container in docker_client.containers.list(all=True, filters={"name": NAME}):
        container.remove(force=True)
    for network in docker_client.networks.list(names=[NETWORK]):
        network.remove()
    shutil.rmtree(workdir, ignore_errors=True)


def play(site, **overrides) -> subprocess.CompletedProcess:
    variables = dict(site["vars"], **overrides)
    varfile = site["dir"] / "vars.json"
    varfile.write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
         str(ROOT / "tests/integration/prometheus_role.yml"), "-e", f"@{varfile}"],
        capture_output=True, text=True, env=env, check=False, timeout=600)


def live_sha(site) -> str:
    return hashlib.sha256((site["dir"] / "stack/prometheus/config/web.yml").read_bytes()).hexdigest()


def container(docker_client):
    return docker_client.containers.get(NAME)


@pytest.fixture(scope="module")
def deployed(site):
    result = play(site)
    assert result.returncode == 0, result.stdout[-4000:]
    return result


def test_tls_and_basic_auth_guard_the_listener(site, deployed):
    assert get(site["url"] + "/-/ready")[0] == 401
    assert get(site["url"] + "/-/ready", "wrong-password")[0] == 401
    assert get(site["url"] + "/-/ready", FIRST)[0] == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(site["url"].replace("https", "http") + "/-/ready", timeout=5)


def test_prometheus_scrapes_itself_with_the_password_file(site, deployed):
    status, body = get(site["url"] + "/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D", FIRST)
    assert status == 200
    assert json.loads(body)["data"]["result"][0]["value"][1] == "1"


def test_no_secret_in_output_or_container_definition(site, deployed, docker_client):
    attrs = json.dumps(container(docker_client).attrs)
    output = deployed.stdout + deployed.stderr
    for secret in (FIRST, site["vars"]["prometheus_web_tls_key"].splitlines()[1]):
        assert secret not in attrs
        assert secret not in output
    config = (site["dir"] / "stack/prometheus/config/prometheus.yml").read_text()
    assert FIRST not in config and "password_file: web_password" in config


def config_state(site) -> dict:
    """Owner, mode and digest of every live config file."""
    root = site["dir"] / "stack/prometheus/config"
    return {str(p.relative_to(root)): (p.stat().st_uid, oct(p.stat().st_mode),
                                       hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_second_converge_with_the_web_config_changes_nothing(site, deployed):
    # The web config's files and prometheus.yml share the staging and live
    # directories, each with its own owner and mode (65534 0400, root 0644):
    # neither staged set may claim the other's files.
    before = config_state(site)
    assert before["prometheus.yml"][:2] == (0, "0o100644") and before["web.yml"][:2] == (65534, "0o100400")
    result = play(site)
    assert result.returncode == 0, result.stdout[-4000:]
    assert recap(result.stdout)["changed"] == 0, result.stdout[-4000:]
    assert config_state(site) == before


def test_rotating_the_password_needs_no_restart(site, deployed, docker_client):
    before = container(docker_client).attrs
    result = play(site, prometheus_web_basic_auth_users={USER: PASSWORDS[SECOND]},
                  prometheus_web_password=SECOND)
    assert result.returncode == 0, result.stdout[-4000:]
    after = container(docker_client).attrs
    assert (after["Id"], after["State"]["StartedAt"]) == (before["Id"], before["State"]["StartedAt"])
    assert get(site["url"] + "/-/ready", FIRST)[0] == 401
    assert get(site["url"] + "/-/ready", SECOND)[0] == 200
    site["vars"].update(prometheus_web_basic_auth_users={USER: PASSWORDS[SECOND]},
                        prometheus_web_password=SECOND)


def test_a_hash_that_is_not_bcrypt_is_refused_before_any_change(site, deployed):
    before = live_sha(site)
    result = play(site, prometheus_web_basic_auth_users={USER: "plain-text-password"})
    assert result.returncode != 0
    assert "prometheus_web_basic_auth_users must map each user to a bcrypt hash" in result.stdout
    assert "plain-text-password" not in result.stdout
    assert live_sha(site) == before


def test_a_key_that_does_not_match_is_refused_by_promtool(site, deployed, docker_client):
    before, started = live_sha(site), container(docker_client).attrs["State"]["StartedAt"]
    result = play(site, prometheus_web_tls_key=site["other_key"])
    assert result.returncode != 0
    assert "Validate the staged web config with promtool check web-config" in result.stdout
    assert "private key does not match public key" in result.stdout
    assert live_sha(site) == before
    assert container(docker_client).attrs["State"]["StartedAt"] == started
    assert get(site["url"] + "/-/ready", site["vars"]["prometheus_web_password"])[0] == 200


def test_switching_the_web_config_off_removes_its_files_and_opens_the_listener(site, deployed):
    """The role's own staged set removes web.yml, the key and the password, live and staged."""
    off = {"prometheus_web_basic_auth_users": {}, "prometheus_web_username": "", "prometheus_web_password": "",
           "prometheus_web_tls_cert": "", "prometheus_web_tls_key": ""}
    result = play(site, **off)
    assert result.returncode == 0, result.stdout[-4000:]
    left = [p.name for d in ("config", "staging") for p in (site["dir"] / "stack/prometheus" / d).iterdir()
            if p.name in ("web.yml", "web-tls.crt", "web-tls.key", "web_password")]
    assert left == [], f"files of the switched-off web config remain: {left}"
    assert site["vars"]["prometheus_web_password"] not in result.stdout
    assert get(site["url"].replace("https://", "http://") + "/-/ready")[0] == 200
    again = play(site, **off)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]
