"""Prometheus and Alertmanager behind the front door: site.yml on a stack of
the test's own (containers vpsmon-it-uiurl-*, network vpsmon-it-uiurl-net,
random loopback ports) with Prometheus, Alertmanager and the proxy on.

The roles run both with --web.external-url under the front door's paths
(derived from the host name and the proxy's HTTPS port, no domain here) and
--web.route-prefix=/. Then the roles' own calls still work at / (readiness,
a config change applied by /-/reload without a restart, the targets wait),
Prometheus discovers Alertmanager, and through the proxy the UI pages link
under /prometheus/ and /alertmanager/ and what they link loads.
"""

from __future__ import annotations

import re
import subprocess
from urllib.parse import urljoin

import pytest
from conftest import wait_until
from stack_run import api, free_port, isolated_vars, ok, own_stack, run_playbook

PREFIX = "vpsmon-it-uiurl"


def recap(out: str) -> dict:
    line = [ln for ln in out.splitlines() if ln.startswith("localhost") and "ok=" in ln][-1]
    return {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}


@pytest.fixture(scope="module")
def stack(images, docker_client):
    with own_stack(docker_client, PREFIX) as base:
        variables = isolated_vars(
            PREFIX, base, images,
            stack_enable_alertmanager=True,
            stack_enable_proxy=True,
            alertmanager_image=images["alertmanager_image"],
            alertmanager_port=free_port(),
            alertmanager_memory_limit="128m",
            proxy_image=images["proxy_image"],
            proxy_bind_address="127.0.0.1",
            proxy_https_port=free_port(),
            proxy_http_port=free_port(),
            proxy_internal_tls_names=["localhost", "127.0.0.1"],
            prometheus_scrape_interval="2s",
            prometheus_scrape_timeout="2s",
            prometheus_evaluation_interval="2s")
        first = run_playbook("site.yml", variables)
        ok(first)
        yield {"vars": variables, "base": base, "first": first,
               "prom": f"http://127.0.0.1:{variables['prometheus_port']}",
               "url": f"https://127.0.0.1:{variables['proxy_https_port']}",
               "public": f"https://localhost:{variables['proxy_https_port']}",
               "ca": base / "proxy" / "ca" / "root.crt",
               "password": (base / "proxy" / "secrets" / "ui-admin.password").read_text()}


def through(stack: dict, path: str) -> tuple[str, str]:
    """GET through the front door with the admin password: (headers, body)."""
    out = subprocess.run(["curl", "-sS", "-D", "-", "--max-time", "30", "--cacert", str(stack["ca"]),
                          "--resolve", f"localhost:{stack['vars']['proxy_https_port']}:127.0.0.1",
                          "-u", f"admin:{stack['password']}", stack["public"] + path],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    head, _sep, body = out.stdout.partition("\n\n")
    return head, body


def status(stack: dict, path: str) -> int:
    """HTTP status through the front door (the body may be binary: not read)."""
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30",
                          "--cacert", str(stack["ca"]),
                          "--resolve", f"localhost:{stack['vars']['proxy_https_port']}:127.0.0.1",
                          "-u", f"admin:{stack['password']}", stack["public"] + path],
                         capture_output=True, text=True, check=False)
    return int(out.stdout or 0)


def test_flags_point_through_the_front_door(stack, docker_client):
    v = stack["vars"]
    flags = api(stack["prom"], "/api/v1/status/flags")["data"]
    assert flags["web.external-url"] == f"https://localhost:{v['proxy_https_port']}/prometheus/"
    assert flags["web.route-prefix"] == "/"
    args = docker_client.containers.get(v["alertmanager_container_name"]).attrs["Args"]
    assert f"--web.external-url=https://localhost:{v['proxy_https_port']}/alertmanager/" in args
    assert "--web.route-prefix=/" in args


def test_alertmanager_discovered_and_targets_up(stack):
    v = stack["vars"]
    wait_until(lambda: api(stack["prom"], "/api/v1/alertmanagers")["data"]["activeAlertmanagers"], 30,
               what="an active Alertmanager")
    active = [a["url"] for a in api(stack["prom"], "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]]
    assert active == [f"http://{v['alertmanager_container_name']}:9093/api/v2/alerts"]
    targets = api(stack["prom"], "/api/v1/targets")["data"]["activeTargets"]
    assert {t["labels"]["job"] for t in targets} >= {"prometheus", "alertmanager"}
    assert all(t["health"] == "up" for t in targets), [(t["scrapeUrl"], t["lastError"]) for t in targets]


def test_ui_pages_link_under_their_paths(stack):
    head, _body = through(stack, "/prometheus/")
    location = [ln.split(":", 1)[1].strip() for ln in head.splitlines() if ln.lower().startswith("location:")]
    assert head.startswith("HTTP/2 302") and location and location[0].startswith("/prometheus/"), head
    head, page = through(stack, location[0])
    assert head.startswith("HTTP/2 200"), head
    assets = [urljoin(location[0], link) for link in re.findall(r'(?:href|src)="([^"#:]+)"', page)
              if re.search(r"\.(js|css|ico)(\?|$)", link)]
    assert assets and all(a.startswith("/prometheus/") for a in assets), assets
    for asset in assets[:5]:
        assert status(stack, asset) == 200, asset
    head, page = through(stack, "/alertmanager/")
    assert head.startswith("HTTP/2 200") and "<title>Alertmanager</title>" in page, head
    assert status(stack, "/alertmanager/api/v2/status") == 200


def test_reload_and_second_run(stack, docker_client):
    """Unchanged: nothing changes. A scrape interval change: the role reloads
    Prometheus through /-/reload at the root (same container, same start)."""
    v = stack["vars"]
    again = run_playbook("site.yml", v)
    assert recap(ok(again))["changed"] == 0, again.stdout[-3000:]
    prom = docker_client.containers.get(v["prometheus_container_name"])
    started = prom.attrs["State"]["StartedAt"]
    changed = run_playbook("site.yml", {**v, "prometheus_scrape_interval": "3s"})
    assert recap(ok(changed))["changed"] >= 1
    prom.reload()
    assert prom.attrs["State"]["StartedAt"] == started
    wait_until(lambda: api(stack["prom"], "/api/v1/status/config")["data"]["yaml"].count("scrape_interval: 3s"),
               30, what="the reloaded config")
