"""The front door (roles/proxy) proved from outside the host.

A client lives in its own network namespace (``vpsmon-it-outside``) joined to
the host by a veth pair with its own addresses; the proxy is published on the
host side of that pair only. The client is on neither the stack network nor
loopback. The proxy role itself runs through ansible-playbook against
localhost with a private stack_base_dir, its own network and container
names, in front of a real Prometheus, Alertmanager and vmagent (OTLP/HTTP),
and the Grafana API TEST DOUBLE (no Grafana image here), aliased with the
stack's names on the private network so the role's default upstreams apply.

Needs root (ip netns) and the offline images (images/build.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from conftest import wait_until
from stack_run import recap, remove_containers

ROOT = Path(__file__).resolve().parents[2]
SENDER = ROOT / "tests" / "e2e_claude" / "send_claude_metrics.py"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PREFIX = "vpsmon-it-fd"
NETNS = "vpsmon-it-outside"
# Host and outside ends of the veth pair (198.18.0.0/15 is for network tests).
VETH_HOST, VETH_OUT = "vpsmon-fd-h", "vpsmon-fd-o"
HOST_ADDR, OUT_ADDR = "198.18.77.1", "198.18.77.2"
HTTPS_PORT, HTTP_PORT = 28443, 28080
# The stack's own ports: none may answer from outside.
STACK_PORTS = [9090, 9093, 9100, 9487, 9323, 4317, 4318, 8429, 8889, 13133, 3000]

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                reason="needs root and iproute2 for the outside network namespace")


def sh(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, **kw)


def outside(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a command in the outside namespace, with a workstation's environment:
    requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override the CA the
    OpenTelemetry exporter is given, so they are not passed on."""
    clean = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    return subprocess.run(["ip", "netns", "exec", NETNS, *args], capture_output=True, text=True,
                          check=False, timeout=timeout, env={**clean, **(env or {})})


def curl(*args: str) -> tuple[int, str]:
    """curl from outside: (HTTP status or 0 when no HTTP answer, stderr)."""
    out = outside("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--connect-timeout", "3",
                  # A wrong password costs Caddy a bcrypt check: slow on a busy host.
                  "--max-time", "30", *args)
    return int(out.stdout or 0), out.stderr


def _teardown_netns() -> None:
    sh("ip", "link", "del", VETH_HOST, check=False)
    sh("ip", "netns", "del", NETNS, check=False)


@pytest.fixture(scope="module")
def netns():
    _teardown_netns()
    steps = [
        ["ip", "netns", "add", NETNS],
        ["ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_OUT],
        ["ip", "link", "set", VETH_OUT, "netns", NETNS],
        ["ip", "addr", "add", f"{HOST_ADDR}/30", "dev", VETH_HOST],
        ["ip", "link", "set", VETH_HOST, "up"],
        ["ip", "netns", "exec", NETNS, "ip", "addr", "add", f"{OUT_ADDR}/30", "dev", VETH_OUT],
        ["ip", "netns", "exec", NETNS, "ip", "link", "set", VETH_OUT, "up"],
        ["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            sh(*step)
        yield
    finally:
        _teardown_netns()


def run_role(workdir: Path, extra: dict, *flags: str, play: str = "play.yml") -> subprocess.CompletedProcess:
    """Apply roles/proxy (or another play in workdir) to localhost with the
    test's variables (+ extra)."""
    varsfile = workdir / f"vars-{uuid.uuid4().hex[:8]}.json"
    varsfile.write_text(json.dumps({**json.loads((workdir / "vars.json").read_text()), **extra}))
    varsfile.chmod(0o600)
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
           "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_NOCOLOR": "1"}
    try:
        return subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
                               "-e", f"@{varsfile}", *flags, str(workdir / play)],
                              capture_output=True, text=True, check=False, env=env, timeout=600)
    finally:
        varsfile.unlink()


GUARD_PLAY = ("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
              "    - ansible.builtin.include_role:\n        name: vps.monitoring.docker_host\n"
              "        tasks_from: forward_guard\n")
# docker_host's forward guard rule, as the role writes it (vars/main.yml).
GUARD_MATCH = ["-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"]


def guard_rule(op: str, network_id: str, check: bool = True) -> bool:
    """iptables OP (-C/-D) on the guard rule of the network's bridge; True when rc 0."""
    bridge = "br-" + network_id[:12]
    if op == "-D":
        while sh("iptables", "-w", "-C", "DOCKER-USER", "!", "-i", bridge, "-o", bridge, *GUARD_MATCH,
                 check=False).returncode == 0:
            sh("iptables", "-w", "-D", "DOCKER-USER", "!", "-i", bridge, "-o", bridge, *GUARD_MATCH)
        return True
    return sh("iptables", "-w", op, "DOCKER-USER", "!", "-i", bridge, "-o", bridge, *GUARD_MATCH,
              check=check).returncode == 0


@pytest.fixture(scope="module")
def front_door(netns, docker_client, images):
    work = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    work.chmod(0o755)
    base = work / "stack"
    net = docker_client.networks.create(f"{PREFIX}-net", driver="bridge")
    made = []

    def run(name, image, alias, **kw):
        # Only on the private network, under the stack's name for it.
        endpoint = docker_client.api.create_endpoint_config(aliases=[alias])
        c = docker_client.containers.run(image, name=f"{PREFIX}-{name}", detach=True, network=net.name,
                                         networking_config={net.name: endpoint}, **kw)
        made.append(c)
        return c

    try:
        prom = run("prometheus", images["prometheus_image"], "prometheus",
                   ports={"9090/tcp": ("127.0.0.1", None)},
                   command=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/tmp/tsdb",
                            "--web.enable-remote-write-receiver",
                            # As the prometheus role runs it behind the front door.
                            f"--web.external-url=https://{HOST_ADDR}:{HTTPS_PORT}/prometheus/",
                            "--web.route-prefix=/"])
        run("alertmanager", images["alertmanager_image"], "alertmanager",
            ports={"9093/tcp": ("127.0.0.1", None)},
            command=["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager",
                     "--cluster.listen-address=",
                     f"--web.external-url=https://{HOST_ADDR}:{HTTPS_PORT}/alertmanager/",
                     "--web.route-prefix=/"])
        otel = run("otel", images["otel_collector_vmagent_image"], "otel-collector",
                   ports={"4318/tcp": ("127.0.0.1", None)}, read_only=True,
                   tmpfs={"/vmagent-remotewrite-data": "size=64m,uid=65534"},
                   command=["-httpListenAddr=:8429,:4318", "-opentelemetry.usePrometheusNaming",
                            "-remoteWrite.url=http://prometheus:9090/api/v1/write",
                            "-remoteWrite.forcePromProto", "-remoteWrite.flushInterval=1s",
                            "-remoteWrite.tmpDataPath=/vmagent-remotewrite-data"])
        # Grafana API TEST DOUBLE (not Grafana), as `grafana` on this private network only.
        run("grafana", images["docker_exporter_base_image"], "grafana",
            volumes={str(ROOT / "tests" / "grafana_double"): {"bind": "/double", "mode": "ro"}},
            command=["python3", "/double/server.py", "--host=0.0.0.0", "--port=3000",
                     "--admin-password=fd-double-secret"])
        for c in made:
            c.reload()
        # The forward guard (docker_host's DOCKER-USER rule) for this network's
        # bridge only, through the role's own entry point; removed below.
        (work / "guard.yml").write_text(GUARD_PLAY)
        (work / "vars.json").write_text(json.dumps({"ansible_python_interpreter": PYTHON,
                                                    "docker_host_forward_guard_networks": [net.name],
                                                    "docker_host_forward_guard_persist": False}))
        guard = run_role(work, {}, play="guard.yml")
        assert guard.returncode == 0, guard.stdout[-4000:] + guard.stderr[-2000:]

        def host_port(c, port):
            return int(c.attrs["NetworkSettings"]["Ports"][port][0]["HostPort"])

        (work / "play.yml").write_text("- hosts: localhost\n  gather_facts: false\n"
                                       "  roles:\n    - vps.monitoring.proxy\n")
        (work / "vars.json").write_text(json.dumps({
            "ansible_python_interpreter": PYTHON,
            "docker_host_forward_guard_networks": [net.name],
            "docker_host_forward_guard_persist": False,
            "stack_base_dir": str(base),
            "stack_network": net.name,
            "stack_otel_implementation": "vmagent",
            "proxy_container_name": f"{PREFIX}-proxy",
            "proxy_image": images["proxy_image"],
            "proxy_bind_address": HOST_ADDR,
            "proxy_https_port": HTTPS_PORT,
            "proxy_http_port": HTTP_PORT,
            "proxy_internal_tls_names": [HOST_ADDR],
        }))
        first = run_role(work, {})
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        secrets = base / "proxy" / "secrets"
        state = {
            "work": work, "base": base, "first": first,
            "token": (secrets / "otlp_token").read_text(),
            "password": (secrets / "ui-admin.password").read_text(),
            "ca": base / "proxy" / "ca" / "root.crt",
            "url": f"https://{HOST_ADDR}:{HTTPS_PORT}",
            "prom": f"http://127.0.0.1:{host_port(prom, '9090/tcp')}",
            "published": [host_port(c, p) for c in made
                          for p in c.attrs["NetworkSettings"]["Ports"] if c.attrs["NetworkSettings"]["Ports"][p]],
            "proxy": docker_client.containers.get(f"{PREFIX}-proxy"),
            "otel": otel,
        }
        yield state
    finally:
        remove_containers(docker_client, [f"{PREFIX}-proxy", f"{PREFIX}-proxy-validate"])
        for c in made:
            c.remove(force=True)
        # This machine's iptables are shared: remove exactly this bridge's rule.
        if (work / "guard.yml").exists():
            run_role(work, {"docker_host_forward_guard_state": "absent"}, play="guard.yml")
        guard_rule("-D", net.id, check=False)
        net.remove()
        shutil.rmtree(work, ignore_errors=True)


def query(prom: str, expr: str) -> list:
    r = requests.get(prom + "/api/v1/query", params={"query": expr}, timeout=5)
    r.raise_for_status()
    return r.json()["data"]["result"]


def send_from_outside(fd: dict, session: str, token: str | None) -> subprocess.CompletedProcess:
    """Claude Code-shaped OTLP/HTTP with the real SDK, trusting the internal CA
    the way a workstation does (OTEL_EXPORTER_OTLP_CERTIFICATE)."""
    args = [PYTHON, str(SENDER), "--endpoint", fd["url"], "--session-id", session]
    if token is not None:
        args += ["--headers", f"Authorization=Bearer {token}"]
    return outside(*args, env={"OTEL_EXPORTER_OTLP_CERTIFICATE": str(fd["ca"])})


# --- OTLP --------------------------------------------------------------------

def test_otlp_with_token_lands_and_without_token_does_not(front_door):
    fd = front_door
    refused, wrong, landed = (f"fd-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("none", "wrong", "ok"))
    no_token = send_from_outside(fd, refused, None)
    assert no_token.returncode != 0 and "refused or failed" in no_token.stderr
    bad_token = send_from_outside(fd, wrong, "x" * 43)
    assert bad_token.returncode != 0
    good = send_from_outside(fd, landed, fd["token"])
    assert good.returncode == 0, good.stderr
    expected = json.loads(good.stdout)["expected"]
    sel = f'{{session_id="{landed}"}}'
    wait_until(lambda: query(fd["prom"], f"sum(claude_code_cost_usage_USD_total{sel})"), 30,
               what="the session sent with the token in Prometheus")
    cost = float(query(fd["prom"], f"sum(claude_code_cost_usage_USD_total{sel})")[0]["value"][1])
    assert cost == expected["claude_code.cost.usage"]
    by_model = {r["metric"]["model"]: float(r["value"][1])
                for r in query(fd["prom"], f"sum(claude_code_token_usage_tokens_total{sel}) by (model)")}
    assert by_model == expected["tokens_by_model"]
    # Later data went through the same pipeline and landed: the refused ones are not merely late.
    for session in (refused, wrong):
        assert query(fd["prom"], f'count({{session_id="{session}"}})') == []


def test_otlp_http_answers_401_with_bearer_challenge(front_door):
    fd = front_door
    out = outside("curl", "-sS", "-D", "-", "-o", "/dev/null", "--cacert", str(fd["ca"]), "-X", "POST",
                  "-H", "Content-Type: application/x-protobuf", fd["url"] + "/v1/logs")
    assert out.stdout.startswith("HTTP/2 401"), out.stdout + out.stderr
    assert "www-authenticate: bearer" in out.stdout.lower()


GRPC_CLIENT = """
import sys, grpc
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc import MetricsServiceStub
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
reader = InMemoryMetricReader()
provider = MeterProvider(metric_readers=[reader])
provider.get_meter("com.anthropic.claude_code").create_counter("claude_code.session.count").add(1)
channel = grpc.secure_channel(sys.argv[1], grpc.ssl_channel_credentials(open(sys.argv[2], "rb").read()))
metadata = (("authorization", "Bearer " + sys.argv[3]),) if len(sys.argv) > 3 else None
# One call, its gRPC status printed (the SDK exporter would retry and hide it).
try:
    MetricsServiceStub(channel).Export(encode_metrics(reader.get_metrics_data()), metadata=metadata, timeout=5)
    print("OK")
except grpc.RpcError as err:
    print(err.code().name)
"""


def grpc_status(fd: dict, token: str | None = None) -> str:
    args = [PYTHON, "-c", GRPC_CLIENT, f"{HOST_ADDR}:{HTTPS_PORT}", str(fd["ca"])]
    out = outside(*args, *([token] if token else []))
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_otlp_grpc_needs_the_token(front_door):
    """gRPC rides HTTP/2 on the HTTPS port. Without the token: UNAUTHENTICATED.
    With it the call passes the front door to otel-collector:4317, which vmagent
    does not serve here, hence UNAVAILABLE (502), never UNAUTHENTICATED."""
    assert grpc_status(front_door) == "UNAUTHENTICATED"
    assert grpc_status(front_door, "y" * 43) == "UNAUTHENTICATED"
    assert grpc_status(front_door, front_door["token"]) in ("OK", "UNAVAILABLE")


# --- Grafana, UIs, TLS ---------------------------------------------------------

def test_grafana_route_over_tls_with_the_internal_ca(front_door):
    """Grafana's route at / with the certificate checked against the exported CA.
    The Grafana API TEST DOUBLE answers in place of Grafana: its /api/health
    carries the double's version string, so the answer is the upstream's."""
    fd = front_door
    out = outside("curl", "-sS", "--cacert", str(fd["ca"]), fd["url"] + "/api/health")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["version"] == "12.0.0-test-double"
    # Grafana's own login stays Grafana's: the double wants its credentials.
    assert curl("--cacert", str(fd["ca"]), fd["url"] + "/api/search")[0] == 401
    # The certificate is the internal CA's, not publicly trusted.
    status, err = curl(fd["url"] + "/api/health")
    assert status == 0 and "certificate" in err.lower()


def test_ca_export_and_status_output(front_door):
    fd = front_door
    pem = fd["ca"].read_text()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(fd["ca"].stat().st_mode) == 0o644
    assert f"CA certificate: {fd['ca']} sha256 " in fd["first"].stdout
    assert f"front door: https://{HOST_ADDR}:{HTTPS_PORT}" in fd["first"].stdout


@pytest.mark.parametrize("path", ["/prometheus/api/v1/query?query=up", "/alertmanager/api/v2/status"])
def test_uis_only_with_the_password(front_door, path):
    fd = front_door
    url = fd["url"] + path
    assert curl("--cacert", str(fd["ca"]), url)[0] == 401
    assert curl("--cacert", str(fd["ca"]), "-u", "admin:wrong-password", url)[0] == 401
    assert curl("--cacert", str(fd["ca"]), "-u", f"admin:{fd['password']}", url)[0] == 200


def test_ui_links_stay_under_their_path(front_door):
    """Prometheus and Alertmanager run with --web.external-url under the
    front door's paths and --web.route-prefix=/ (what their roles pass when
    the proxy is on): the pages' redirects and asset links point under
    /prometheus/ and /alertmanager/, and each of them loads through the proxy."""
    fd = front_door
    auth = ["--cacert", str(fd["ca"]), "-u", f"admin:{fd['password']}"]

    def get(path: str) -> tuple[str, str]:
        out = outside("curl", "-sS", "-D", "-", *auth, fd["url"] + path)
        assert out.returncode == 0, out.stderr
        # text mode has turned the header lines' CRLF into LF
        head, _sep, body = out.stdout.partition("\n\n")
        return head, body

    head, _body = get("/prometheus/")
    assert head.startswith("HTTP/2 302") and "\nlocation: /prometheus/" in head.lower(), head
    location = [ln.split(":", 1)[1].strip() for ln in head.splitlines() if ln.lower().startswith("location:")][0]
    head, page = get(location)
    assert head.startswith("HTTP/2 200"), head
    # Resolved the way a browser does (relative links against the page).
    links = [urljoin(location, link) for link in re.findall(r'(?:href|src)="([^"#:]+)"', page)]
    assets = [link for link in links if re.search(r"\.(js|css|ico)(\?|$)", link)]
    assert assets and all(link.startswith("/prometheus/") for link in assets), links
    assert 'PATH_PREFIX = "\\/prometheus"' in page
    for link in assets[:5]:
        assert curl(*auth, fd["url"] + link)[0] == 200, link
    # Prometheus's own view of its public URL (API at the route prefix /).
    flags = json.loads(get("/prometheus/api/v1/status/flags")[1])["data"]
    assert flags["web.external-url"] == f"https://{HOST_ADDR}:{HTTPS_PORT}/prometheus/"
    assert flags["web.route-prefix"] == "/"
    head, page = get("/alertmanager/")
    assert head.startswith("HTTP/2 200") and "<title>Alertmanager</title>" in page, head
    for link in re.findall(r'(?:href|src)="([^"#:]+)"', page):
        target = urljoin("/alertmanager/", link)
        # -/reload is POST only: 405 is Alertmanager's own answer at that route.
        want = 405 if target.endswith("/-/reload") else 200
        assert target.startswith("/alertmanager/") and curl(*auth, fd["url"] + target)[0] == want, link
    assert curl(*auth, fd["url"] + "/alertmanager/-/healthy")[0] == 200


def test_http_redirects_to_https(front_door):
    out = outside("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                  f"http://{HOST_ADDR}:{HTTP_PORT}/prometheus/")
    code, location = out.stdout.split(" ", 1)
    assert code in ("301", "308") and location.startswith(f"https://{HOST_ADDR}/prometheus/")


def test_no_pprof_or_admin_through_the_front_door(front_door):
    """vmagent's /debug/pprof and Caddy's admin API are not routed: the path
    falls to Grafana's route (the double answers 401/404, not a profile)."""
    fd = front_door
    for path in ["/debug/pprof/", "/opentelemetry/v1/metrics", "/config/", "/load"]:
        out = outside("curl", "-sS", "--cacert", str(fd["ca"]), fd["url"] + path)
        assert "goroutine" not in out.stdout, path
        assert curl("--cacert", str(fd["ca"]), fd["url"] + path)[0] in (401, 404), path


# --- Nothing public that should not be ------------------------------------------

def test_stack_ports_unreachable_from_outside(front_door):
    fd = front_door
    code = ("import socket,sys\nfor p in sys.argv[2:]:\n"
            "    s=socket.socket(); s.settimeout(2)\n"
            "    print(p, s.connect_ex((sys.argv[1], int(p))))\n")
    ports = sorted(set(STACK_PORTS + fd["published"]))
    out = outside(PYTHON, "-c", code, HOST_ADDR, *map(str, ports))
    results = dict(line.split() for line in out.stdout.splitlines())
    assert set(results) == set(map(str, ports)), out.stderr
    opened = [p for p, err in results.items() if err == "0"]
    assert opened == [], f"reachable from outside on {HOST_ADDR}: {opened}"
    # The front door itself does answer there.
    assert curl("--cacert", str(fd["ca"]), fd["url"] + "/api/health")[0] == 200


def test_stack_containers_unreachable_by_routing_through_the_host(front_door, docker_client):
    """An L2 neighbour does not need the published port: it can route the
    stack network's subnet through the host and dial a container directly.
    Docker accepts that whenever the container port has any host port; the
    forward guard (docker_host's DOCKER-USER rule for the stack bridge) drops
    it. Without the rule the same dial answers: the check can fail."""
    net = docker_client.networks.get(f"{PREFIX}-net")
    subnet = net.attrs["IPAM"]["Config"][0]["Subnet"]
    ip = {name: docker_client.containers.get(f"{PREFIX}-{name}").attrs["NetworkSettings"]["Networks"][net.name]
          ["IPAddress"] for name in ("prometheus", "proxy")}
    prom_url = f"http://{ip['prometheus']}:9090/-/healthy"
    work = front_door["work"]
    outside("ip", "route", "replace", subnet, "via", HOST_ADDR)
    try:
        assert guard_rule("-C", net.id, check=False)
        assert curl(prom_url)[0] == 0
        assert curl("-k", f"https://{ip['proxy']}:443/api/health")[0] == 0
        # The gap itself: the role removes only this bridge's rule, and the port answers.
        removed = run_role(work, {"docker_host_forward_guard_state": "absent"}, play="guard.yml")
        assert removed.returncode == 0 and recap(removed.stdout)["changed"] == 1, removed.stdout[-3000:]
        assert not guard_rule("-C", net.id, check=False)
        assert curl(prom_url)[0] == 200
        # Check mode says it would add the rule and adds nothing.
        checked = run_role(work, {}, "--check", play="guard.yml")
        assert checked.returncode == 0 and recap(checked.stdout)["changed"] == 1, checked.stdout[-3000:]
        assert not guard_rule("-C", net.id, check=False)
        added = run_role(work, {}, play="guard.yml")
        assert added.returncode == 0 and recap(added.stdout)["changed"] == 1, added.stdout[-3000:]
        assert curl(prom_url)[0] == 0
        again = run_role(work, {}, play="guard.yml")
        assert again.returncode == 0 and recap(again.stdout)["changed"] == 0, again.stdout[-3000:]
        rules = sh("iptables", "-w", "-S", "DOCKER-USER").stdout
        assert rules.count(f"br-{net.id[:12]}") == 2, rules  # one rule: -i and -o
    finally:
        outside("ip", "route", "del", subnet)
        # Whatever happened above, the fixture's rule is back for the tests after this one.
        if not guard_rule("-C", net.id, check=False):
            run_role(work, {}, play="guard.yml")
    # The front door's published port still answers through Docker's DNAT.
    assert curl("--cacert", str(front_door["ca"]), front_door["url"] + "/api/health")[0] == 200


def test_guarded_containers_still_reach_out(front_door, docker_client):
    """The guard leaves the containers' own connections and their replies
    alone: a stack container opens a page served in the outside namespace."""
    page = "guard-egress-" + uuid.uuid4().hex[:8]
    serve_dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-www-"))
    serve_dir.chmod(0o755)
    (serve_dir / "page").write_text(page)
    (serve_dir / "page").chmod(0o644)
    server = subprocess.Popen(["ip", "netns", "exec", NETNS, PYTHON, "-m", "http.server", "--bind", OUT_ADDR,
                               "--directory", str(serve_dir), "18999"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: outside("curl", "-sf", f"http://{OUT_ADDR}:18999/page").stdout == page, 15,
                   what="the page server in the outside namespace")
        net = docker_client.networks.get(f"{PREFIX}-net")
        assert guard_rule("-C", net.id, check=False)
        client = docker_client.containers.get(f"{PREFIX}-grafana")
        got = client.exec_run(["python3", "-c", "import urllib.request,sys; print(urllib.request.urlopen("
                               f"'http://{OUT_ADDR}:18999/page', timeout=5).read().decode())"])
        assert got.exit_code == 0 and got.output.decode().strip() == page, got.output.decode()
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(serve_dir, ignore_errors=True)


def listeners() -> list[tuple[str, int, str]]:
    """(address, port, process) of every listening TCP socket on the host."""
    out = sh("ss", "-Hltnp").stdout
    found = []
    for line in out.splitlines():
        cols = line.split()
        addr, _unused, port = cols[3].rpartition(":")
        proc = cols[5].split('"')[1] if len(cols) > 5 and '"' in cols[5] else ""
        found.append((addr.strip("[]"), int(port), proc))
    return found


def test_listening_sockets(front_door):
    """The full list of sockets the stack's engine opens: on the outside
    address only the proxy's two ports; the stack's ports never on a
    public (non-loopback, non-docker0) address."""
    socks = listeners()
    on_host_addr = sorted(port for addr, port, _unused in socks if addr == HOST_ADDR)
    assert on_host_addr == [HTTP_PORT, HTTPS_PORT]
    docker0 = json.loads(sh("ip", "-j", "-4", "addr", "show", "docker0", check=False).stdout or "[]")
    private = {"127.0.0.1", "::1"} | {a["local"] for i in docker0 for a in i.get("addr_info", [])}
    public = [(a, p, proc) for a, p, proc in socks
              if p in STACK_PORTS and a not in private and proc in ("docker-proxy", "dockerd")]
    assert public == [], f"stack ports listening on a public address: {public}"
    # And the proxy publishes exactly what the role says, nothing else.
    ports = front_door["proxy"].attrs["HostConfig"]["PortBindings"]
    assert {k: [(b["HostIp"], b["HostPort"]) for b in v] for k, v in ports.items()} == {
        "443/tcp": [(HOST_ADDR, str(HTTPS_PORT))], "80/tcp": [(HOST_ADDR, str(HTTP_PORT))]}


# --- Hardening and secrets ------------------------------------------------------

def test_container_hardening(front_door):
    c = front_door["proxy"]
    c.reload()
    hc = c.attrs["HostConfig"]
    assert c.attrs["Config"]["User"] == "65534:65534"
    assert hc["CapDrop"] == ["ALL"] and hc["CapAdd"] == ["NET_BIND_SERVICE"]
    assert hc["ReadonlyRootfs"] is True
    assert "no-new-privileges:true" in hc["SecurityOpt"]
    assert hc["Memory"] == 128 * 1024 * 1024
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}
    # Caddy runs unprivileged: no effective capability at all in the process.
    status = c.exec_run(["cat", "/proc/1/status"]).output.decode()
    cap_eff = [ln.split()[1] for ln in status.splitlines() if ln.startswith("CapEff")][0]
    assert int(cap_eff, 16) == 0
    assert c.attrs["State"]["Health"]["Status"] in ("healthy", "starting")


def test_secrets_never_in_clear_outside_their_files(front_door):
    fd = front_door
    proxy_dir = fd["base"] / "proxy"
    caddyfile = (proxy_dir / "config" / "Caddyfile").read_text()
    for secret in (fd["token"], fd["password"]):
        assert secret not in caddyfile
        assert secret not in fd["first"].stdout
        assert secret not in fd["proxy"].logs().decode()
    assert "import /etc/caddy/secrets/auth.caddy" in caddyfile
    auth = proxy_dir / "config" / "secrets" / "auth.caddy"
    assert stat.S_IMODE(auth.stat().st_mode) == 0o400 and auth.stat().st_uid == 65534
    assert fd["password"] not in auth.read_text() and "$2a$" in auth.read_text()
    kept = proxy_dir / "secrets"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o700
    for f in kept.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600 and f.stat().st_uid == 0, f


def test_second_run_changes_nothing(front_door):
    again = run_role(front_door["work"], {})
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap(again.stdout)["changed"] == 0, again.stdout[-3000:]


def test_bad_config_is_refused_and_the_live_one_kept(front_door):
    """Extra directives Caddy does not know pass the role's own checks but not
    caddy validate: the run fails saying so and nothing live changes."""
    fd = front_door
    live = (fd["base"] / "proxy" / "config" / "Caddyfile").read_text()
    started = fd["proxy"].attrs["State"]["StartedAt"]
    bad = run_role(fd["work"], {"proxy_extra_directives": "header X-Frame-Options DENY\nnot_a_caddy_directive on"})
    assert bad.returncode != 0
    assert "caddy validate rejected" in bad.stdout and "the live config is unchanged" in bad.stdout
    assert fd["token"] not in bad.stdout
    assert (fd["base"] / "proxy" / "config" / "Caddyfile").read_text() == live
    fd["proxy"].reload()
    assert fd["proxy"].attrs["State"]["StartedAt"] == started
    assert curl("--cacert", str(fd["ca"]), fd["url"] + "/api/health")[0] == 200


def test_rotation_takes_effect_by_reload_not_restart(front_door):
    """New token and admin password from the inventory: the next run reloads
    Caddy (same container Id and StartedAt); old secrets get 401, new ones
    pass; neither appears in the run's output even with -v --diff."""
    fd = front_door
    fd["proxy"].reload()
    before = (fd["proxy"].id, fd["proxy"].attrs["State"]["StartedAt"])
    token, password = "rot-" + uuid.uuid4().hex + uuid.uuid4().hex, "pw-" + uuid.uuid4().hex
    users = [{"name": "admin", "password": password}]
    auth = fd["base"] / "proxy" / "config" / "secrets" / "auth.caddy"
    live = auth.read_text()
    # Check mode first: it reports the change, shows no secret and changes nothing.
    checked = run_role(fd["work"], {"proxy_otlp_token": token, "proxy_ui_users": users}, "--check", "--diff")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert recap(checked.stdout)["changed"] >= 1
    assert token not in checked.stdout and password not in checked.stdout
    assert auth.read_text() == live
    rotated = run_role(fd["work"], {"proxy_otlp_token": token, "proxy_ui_users": users}, "-v", "--diff")
    assert rotated.returncode == 0, rotated.stdout[-3000:]
    assert recap(rotated.stdout)["changed"] >= 1
    for secret in (token, password):
        assert secret not in rotated.stdout and secret not in rotated.stderr
    fd["proxy"].reload()
    assert (fd["proxy"].id, fd["proxy"].attrs["State"]["StartedAt"]) == before
    prom_url = fd["url"] + "/prometheus/api/v1/query?query=up"
    assert curl("--cacert", str(fd["ca"]), "-u", f"admin:{fd['password']}", prom_url)[0] == 401
    assert curl("--cacert", str(fd["ca"]), "-u", f"admin:{password}", prom_url)[0] == 200
    assert send_from_outside(fd, f"fd-old-{uuid.uuid4().hex[:8]}", fd["token"]).returncode != 0
    assert send_from_outside(fd, f"fd-new-{uuid.uuid4().hex[:8]}", token).returncode == 0
    assert grpc_status(fd, fd["token"]) == "UNAUTHENTICATED"
    # Same inventory again: nothing to do (the stored hash matches the password).
    again = run_role(fd["work"], {"proxy_otlp_token": token, "proxy_ui_users": users})
    assert recap(again.stdout)["changed"] == 0, again.stdout[-3000:]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
