"""The Docker exporter against the real engine, through the real built image.

Builds the exporter image from programs/docker_exporter (FROM the offline
python-base), runs it as vpsmon-it-dx-exporter the way the role does (socket
read-only, nobody + the socket's group, read-only root fs) and checks its
HTTP output for real containers that are running, exited, restarting,
unhealthy and OOM-killed. Everything is named vpsmon-it-dx-* and removed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import docker.errors
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, wait_until
from stack_run import free_port

FILES = ROOT / "programs" / "docker_exporter"
PREFIX = "vpsmon-it-dx-"
SOCKET = "/var/run/docker.sock"


def _remove(client, name):
    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass


@pytest.fixture(scope="module")
def exporter_url(docker_client, images):
    image, _build_log = docker_client.images.build(
        path=str(FILES), tag="vpsmon-it-dx-exporter:test", rm=True, pull=False,
        buildargs={"BASE_IMAGE": images["docker_exporter_base_image"]})
    _remove(docker_client, PREFIX + "exporter")
    port = free_port()
    container = docker_client.containers.run(
        image.id, name=PREFIX + "exporter", detach=True,
        command=["--listen-address=0.0.0.0:9487", "--scrape-timeout=8"],
        volumes={SOCKET: {"bind": "/var/run/docker.sock", "mode": "ro"}},
        user="65534:65534", group_add=[str(os.stat(SOCKET).st_gid)], read_only=True,
        cap_drop=["ALL"], security_opt=["no-new-privileges:true"], mem_limit="256m",
        ports={"9487/tcp": ("127.0.0.1", port)})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(url + "/healthz", timeout=2).status == 200,
                   timeout=30, what="exporter /healthz")
        yield url
    finally:
        print(container.logs().decode(errors="replace")[-2000:], file=sys.stderr)
        container.remove(force=True)


@pytest.fixture(scope="module")
def subjects(docker_client, images):
    """Real containers in each interesting state."""
    base = images["docker_exporter_base_image"]
    specs = {
        "running": dict(command=["sleep", "600"], restart_policy={"Name": "unless-stopped"}),
        "exited": dict(command=["python3", "-c", "raise SystemExit(3)"]),
        "restarting": dict(command=["python3", "-c", "raise SystemExit(1)"], restart_policy={"Name": "always"}),
        "unhealthy": dict(command=["sleep", "600"], healthcheck={
            "test": ["CMD", "false"], "interval": 500_000_000, "timeout": 1_000_000_000, "retries": 1}),
        # 32 MiB limit, no extra swap; allocate far more than that.
        "oom": dict(command=["python3", "-c", "x = bytearray(256 * 1024 * 1024); x[::4096] = b'x' * len(x[::4096])"],
                    mem_limit="32m", memswap_limit="32m"),
    }
    for kind in specs:
        _remove(docker_client, PREFIX + kind)
    created = []
    try:
        for kind, spec in specs.items():
            created.append(docker_client.containers.run(base, name=PREFIX + kind, detach=True, **spec))
        yield {kind: PREFIX + kind for kind in specs}
    finally:
        for container in created:
            container.remove(force=True)


def scrape(url: str) -> tuple[str, dict]:
    text = urllib.request.urlopen(url + "/metrics", timeout=15).read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return text, samples


def get(samples, metric, **labels):
    return [v for lab, v in samples.get(metric, []) if all(lab.get(k) == w for k, w in labels.items())]


def one(samples, metric, **labels):
    found = get(samples, metric, **labels)
    return found[0] if len(found) == 1 else None


def test_states_of_real_containers(exporter_url, subjects):
    def settled():
        _text, samples = scrape(exporter_url)
        checks = [
            one(samples, "docker_container_state", name=subjects["running"], state="running") == 1,
            one(samples, "docker_container_state", name=subjects["exited"], state="exited") == 1,
            one(samples, "docker_container_last_exit_code", name=subjects["exited"]) == 3,
            (one(samples, "docker_container_restarts_total", name=subjects["restarting"]) or 0) >= 2,
            one(samples, "docker_container_health_status", name=subjects["unhealthy"], status="unhealthy") == 1,
            one(samples, "docker_container_oom_killed", name=subjects["oom"]) == 1,
        ]
        return samples if all(checks) else None

    samples = wait_until(settled, timeout=60, interval=1, what="exporter output for every subject state")
    running = subjects["running"]
    # One series per state, exactly one of them 1, for stopped containers too.
    for name in subjects.values():
        states = get(samples, "docker_container_state", name=name)
        assert len(states) == 7 and sum(states) == 1, (name, states)
    assert one(samples, "docker_container_info", name=running, restart_policy="unless-stopped") == 1
    assert one(samples, "docker_container_info", name=subjects["restarting"], restart_policy="always") == 1
    assert one(samples, "docker_container_health_status", name=running, status="none") == 1
    assert one(samples, "container_spec_memory_limit_bytes", name=subjects["oom"]) == 32 * 1024 * 1024
    assert one(samples, "container_spec_memory_limit_bytes", name=running) == 0
    assert one(samples, "docker_container_last_exit_code", name=subjects["oom"]) == 137
    # cAdvisor-named resource series exist for the running container only.
    assert one(samples, "container_memory_usage_bytes", name=running) > 0
    assert 0 < one(samples, "container_memory_working_set_bytes", name=running) <= one(
        samples, "container_memory_usage_bytes", name=running)
    assert one(samples, "container_cpu_usage_seconds_total", name=running) > 0
    assert one(samples, "container_start_time_seconds", name=running) > 1.6e9
    assert get(samples, "container_network_receive_bytes_total", name=running, interface="eth0")
    assert not get(samples, "container_cpu_usage_seconds_total", name=subjects["exited"])
    assert one(samples, "docker_up") == 1


def test_counters_are_monotonic_across_scrapes(exporter_url, subjects):
    running = subjects["running"]
    values = []
    for _attempt in range(3):
        _text, samples = scrape(exporter_url)
        values.append(one(samples, "container_cpu_usage_seconds_total", name=running))
    assert None not in values and values == sorted(values)


def test_output_passes_promtool_check_metrics(exporter_url, subjects, images, tmp_path):
    text, _samples = scrape(exporter_url)
    (tmp_path / "metrics.prom").write_text(text)
    # promtool check metrics reads the exposition on stdin.
    result = subprocess.run(
        ["docker", "run", "--rm", "-i", "--entrypoint", "/bin/promtool", images["prometheus_image"],
         "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_exporter_runs_as_nobody_with_read_only_socket(docker_client, exporter_url):
    attrs = docker_client.containers.get(PREFIX + "exporter").attrs
    assert attrs["Config"]["User"] == "65534:65534"
    assert attrs["HostConfig"]["ReadonlyRootfs"] is True
    mounts = attrs["Mounts"]
    assert [(m["Source"], m["RW"]) for m in mounts] == [(SOCKET, False)]


def test_unreachable_daemon_gives_docker_up_0_in_process():
    """The real exporter pointed at a socket that does not exist: no crash, no hang."""
    from docker_exporter.collector import DockerCollector
    from docker_exporter.server import make_server
    import threading

    server = make_server(DockerCollector(base_url="unix:///nonexistent/docker.sock", api_timeout=2), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        _text, first = scrape(url)
        _text, second = scrape(url)
        assert one(first, "docker_up") == 0
        assert one(second, "docker_exporter_scrape_errors_total", kind="daemon") == 2
    finally:
        server.shutdown()
        server.server_close()
