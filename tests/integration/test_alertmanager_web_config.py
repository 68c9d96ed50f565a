"""Alertmanager's own web config (TLS and basic auth), through site.yml.

A stack of the test's own (containers vpsmon-it-web-am-*, network
vpsmon-it-web-am-net, random loopback ports, a temporary stack_base_dir) runs
Alertmanager and Prometheus from the offline images, the real roles against
this machine's engine. It proves: TLS and basic auth on Alertmanager's
listener (the role's readiness wait logs in, so the converge passing is part
of the proof), no secret in the run's output or the containers' definitions,
Prometheus scraping and alerting that Alertmanager over TLS with the
password, a second converge that changes nothing (the web config's files
and the role's own config share staging and live directories, each call
owning its own files), a hash that is not bcrypt refused before any change,
and the web config switched off again (its files gone, plain HTTP without
auth, Prometheus following, then changed=0).
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request

import pytest
from conftest import wait_until
from stack_run import (api, changed_tasks, free_port, isolated_vars, ok, own_stack, recap, run_playbook,
                       self_signed, tls_get)

PREFIX = "vpsmon-it-web-am"
# Test-only credentials: the bcrypt hash (cost 10) is of TEST_ONLY_PASSWORD
# (the same pair as test_prometheus_web_config.py).
TEST_ONLY_USER = "it-only-am-user"
TEST_ONLY_PASSWORD = "it-only-web-secret-1"
TEST_ONLY_HASH = "$2b$10$Q1b..Mvc40hetLXUY6m9zecgIOPeGxW2DYHGmY7AmdOBThg6XmWce"
WEB_FILES = ("web.yml", "web-tls.crt", "web-tls.key", "web_password")
WEB_OFF = {"alertmanager_web_basic_auth_users": {}, "alertmanager_web_username": "",
           "alertmanager_web_password": "", "alertmanager_web_tls_cert": "", "alertmanager_web_tls_key": ""}


def get(url: str, password: str | None = None) -> tuple[int, str]:
    """GET url as the test-only user (basic auth when password is given)."""
    return tls_get(url, TEST_ONLY_USER, password)


def web_files(stack) -> list[str]:
    """The web config files present in Alertmanager's live and staging directories."""
    root = stack["base"] / "alertmanager"
    return sorted(f"{d}/{name}" for d in ("config", "staging") for name in WEB_FILES if (root / d / name).exists())


def live_files(stack) -> dict:
    """Alertmanager's live config files: owner, mode and a digest of the content of each."""
    root = stack["base"] / "alertmanager/config"
    return {str(path.relative_to(root)): (path.stat().st_uid, oct(path.stat().st_mode),
                                          hashlib.sha256(path.read_bytes()).hexdigest())
            for path in sorted(root.rglob("*")) if path.is_file()}


def started(docker_client, name: str) -> tuple[str, str]:
    attrs = docker_client.containers.get(name).attrs
    return attrs["Id"], attrs["State"]["StartedAt"]


@pytest.fixture(scope="module")
def stack(images, docker_client):
    with own_stack(docker_client, PREFIX) as base:
        base.chmod(0o755)
        cert, key = self_signed(base, "it-only-am", f"{PREFIX}-alertmanager")
        am_port = free_port()
        variables = isolated_vars(
            PREFIX, base / "stack", images,
            stack_bind_address="127.0.0.1",
            stack_enable_alertmanager=True,
            alertmanager_image=images["alertmanager_image"],
            alertmanager_port=am_port,
            alertmanager_memory_limit="128m",
            alertmanager_web_basic_auth_users={TEST_ONLY_USER: TEST_ONLY_HASH},
            alertmanager_web_username=TEST_ONLY_USER,
            alertmanager_web_password=TEST_ONLY_PASSWORD,
            alertmanager_web_tls_cert=cert,
            alertmanager_web_tls_key=key,
            prometheus_scrape_interval="2s",
            prometheus_scrape_timeout="2s",
            prometheus_evaluation_interval="2s")
        yield {"vars": variables, "base": base / "stack",
               "am_url": f"https://127.0.0.1:{am_port}",
               "prom_url": f"http://127.0.0.1:{variables['prometheus_port']}",
               "am_name": variables["alertmanager_container_name"],
               "prom_name": variables["prometheus_container_name"]}


@pytest.fixture(scope="module")
def deployed(stack):
    proc = run_playbook("site.yml", stack["vars"])
    ok(proc)
    return proc


def test_tls_and_basic_auth_guard_the_listener(stack, deployed):
    url = stack["am_url"]
    for path in ("/-/ready", "/api/v2/status"):
        assert get(url + path)[0] == 401, path
        assert get(url + path, "it-only-wrong-password")[0] == 401, path
        assert get(url + path, TEST_ONLY_PASSWORD)[0] == 200, path
    # Plain HTTP on the TLS listener gets no page (the TLS server answers 400 or drops it).
    plain = url.replace("https://", "http://") + "/-/ready"
    try:
        with urllib.request.urlopen(plain, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, ConnectionError):
        status = None
    assert status != 200
    web = (stack["base"] / "alertmanager/config/web.yml").read_text()
    assert "tls_server_config" in web and TEST_ONLY_HASH in web
    # The status report at the end of site.yml names the https URL.
    report = deployed.stdout[deployed.stdout.find("PLAY [Report"):]
    assert stack["am_url"] + "/-/healthy" in report, report


def test_no_secret_in_output_or_container_definitions(stack, deployed, docker_client):
    key_line = stack["vars"]["alertmanager_web_tls_key"].splitlines()[1]
    output = deployed.stdout + deployed.stderr
    for name in (stack["am_name"], stack["prom_name"]):
        config = docker_client.containers.get(name).attrs["Config"]
        definition = json.dumps({k: config.get(k) for k in ("Cmd", "Env", "Labels", "Healthcheck")})
        for secret in (TEST_ONLY_PASSWORD, key_line):
            assert secret not in definition, (name, secret[:6])
    for secret in (TEST_ONLY_PASSWORD, key_line):
        assert secret not in output, secret[:6]
    cmd = docker_client.containers.get(stack["am_name"]).attrs["Config"]["Cmd"]
    assert "--web.config.file=/etc/alertmanager/web.yml" in cmd
    prometheus_yml = (stack["base"] / "prometheus/config/prometheus.yml").read_text()
    assert TEST_ONLY_PASSWORD not in prometheus_yml and "password_file: alertmanager_password" in prometheus_yml


def test_prometheus_scrapes_and_alerts_alertmanager_over_tls_with_the_password(stack, deployed):
    prom = stack["prom_url"]
    wanted = f"https://{stack['am_name']}:9093/api/v2/alerts"

    def active():
        data = api(prom, "/api/v1/alertmanagers")["data"]
        return wanted in [a["url"] for a in data["activeAlertmanagers"]]
    wait_until(active, 30, what=f"{wanted} among Prometheus's active Alertmanagers")

    def scraped():
        targets = api(prom, "/api/v1/targets", state="active")["data"]["activeTargets"]
        found = [t for t in targets if t["labels"]["job"] == "alertmanager"]
        scraped.last = found
        return found and found[0]["health"] == "up" and found[0]["scrapeUrl"].startswith("https://")
    scraped.last = None
    try:
        wait_until(scraped, 30, what="the alertmanager job up over https")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {scraped.last}") from None

    # The always-firing Watchdog reached Alertmanager: Prometheus posted it over TLS with the password.
    def watchdog():
        status, body = get(stack["am_url"] + "/api/v2/alerts?filter=alertname%3D%22Watchdog%22", TEST_ONLY_PASSWORD)
        return status == 200 and len(json.loads(body)) > 0
    wait_until(watchdog, 60, what="the Watchdog alert at Alertmanager")


def test_a_second_converge_changes_nothing_and_keeps_the_listener(stack, deployed, docker_client):
    before, files = started(docker_client, stack["am_name"]), live_files(stack)
    proc = run_playbook("site.yml", stack["vars"])
    assert recap(ok(proc))["changed"] == 0, changed_tasks(proc.stdout)
    assert started(docker_client, stack["am_name"]) == before
    # Each file keeps its owner and mode: alertmanager.yml root 0644, the web files 65534 0400.
    assert live_files(stack) == files
    assert TEST_ONLY_PASSWORD not in proc.stdout + proc.stderr
    assert get(stack["am_url"] + "/-/ready")[0] == 401
    assert get(stack["am_url"] + "/-/ready", TEST_ONLY_PASSWORD)[0] == 200


def test_a_hash_that_is_not_bcrypt_is_refused_before_any_change(stack, deployed, docker_client):
    before, files = started(docker_client, stack["am_name"]), live_files(stack)
    proc = run_playbook("site.yml", dict(stack["vars"],
                                         alertmanager_web_basic_auth_users={TEST_ONLY_USER: "it-only-not-a-hash"}))
    assert proc.returncode != 0
    assert "alertmanager_web_basic_auth_users must map each user to a bcrypt hash" in proc.stdout, proc.stdout[-4000:]
    assert recap(proc.stdout)["failed"] == 1, proc.stdout[-4000:]
    assert "it-only-not-a-hash" not in proc.stdout and TEST_ONLY_PASSWORD not in proc.stdout + proc.stderr
    assert started(docker_client, stack["am_name"]) == before
    assert live_files(stack) == files
    assert get(stack["am_url"] + "/-/ready", TEST_ONLY_PASSWORD)[0] == 200


def test_switching_the_web_config_off_removes_its_files_and_opens_the_listener(stack, deployed, docker_client):
    assert web_files(stack), "no web config files before switching it off"
    proc = run_playbook("site.yml", dict(stack["vars"], **WEB_OFF))
    ok(proc)
    assert web_files(stack) == [], f"files of the switched-off web config remain: {web_files(stack)}"
    plain = stack["am_url"].replace("https://", "http://")
    assert get(plain + "/-/ready")[0] == 200
    assert get(plain + "/api/v2/status")[0] == 200
    cmd = docker_client.containers.get(stack["am_name"]).attrs["Config"]["Cmd"]
    assert not any(flag.startswith("--web.config.file") for flag in cmd), cmd
    # Prometheus follows: plain http, no password file.
    assert not (stack["base"] / "prometheus/config/alertmanager_password").exists()
    wanted = f"http://{stack['am_name']}:9093/api/v2/alerts"
    wait_until(lambda: wanted in [a["url"] for a in api(stack["prom_url"], "/api/v1/alertmanagers")["data"]
                                  ["activeAlertmanagers"]], 30, what=f"{wanted} among active Alertmanagers")
    again = run_playbook("site.yml", dict(stack["vars"], **WEB_OFF))
    assert recap(ok(again))["changed"] == 0, changed_tasks(again.stdout)
