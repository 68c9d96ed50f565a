"""Unit tests of the Docker exporter on recorded Engine API payloads.

Recorded on this project's engine (20.10, cgroup v1): containers/json,
containers/{id}/json of a running (healthy, unless-stopped, 64 MiB limit) and
an exited (exit 3) container, and a one-shot stats payload. The cgroup v2
stats payload is hand-made from the v2 layout. A fake client serves them.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import urllib.request
from pathlib import Path

import docker.errors
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]

from docker_exporter import parse
from docker_exporter.collector import DockerCollector
from docker_exporter.server import build_registry

FIXTURES = ROOT / "tests" / "fixtures" / "engine_api"


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


SUMMARIES = load("containers_json.json")
RUN_ID = next(s["Id"] for s in SUMMARIES if s["State"] == "running")
EXIT_ID = next(s["Id"] for s in SUMMARIES if s["State"] == "exited")
INSPECT = {RUN_ID: load("inspect_run.json"), EXIT_ID: load("inspect_exit.json")}
STATS_V1 = load("stats_run_cgroup_v1.json")
STATS_V2 = load("stats_run_cgroup_v2.json")


def not_found():
    return docker.errors.NotFound("404 Client Error: Not Found (no such container)")


class FakeClient:
    """Serves recorded payloads the way docker.APIClient returns them."""

    def __init__(self, summaries=None, inspect=None, stats=None):
        self.summaries = summaries if summaries is not None else copy.deepcopy(SUMMARIES)
        self.inspect = inspect if inspect is not None else copy.deepcopy(INSPECT)
        self.stats_payload = stats if stats is not None else {RUN_ID: STATS_V1}
        self.stats_calls = []

    def containers(self, all=False):  # noqa: A002 - docker SDK signature
        assert all is True, "stopped containers must be listed too"
        return copy.deepcopy(self.summaries)

    def inspect_container(self, cid):
        if cid not in self.inspect:
            raise not_found()
        value = self.inspect[cid]
        if isinstance(value, Exception):
            raise value
        if callable(value):
            return value()
        return copy.deepcopy(value)

    def stats(self, cid, stream=True, decode=None, one_shot=None):
        self.stats_calls.append((cid, stream, one_shot))
        if cid not in self.stats_payload:
            raise not_found()
        assert not stream, "stats streams are read by the watcher, not through the SDK"
        assert one_shot is True, "per-scrape stats must be one-shot (no 1 s two-sample wait)"
        return copy.deepcopy(self.stats_payload[cid])


def scrape(collector) -> dict:
    """{metric name: [(labels, value), ...]} from the text exposition."""
    text = generate_latest(build_registry(collector)).decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples, metric, **labels):
    found = [v for lab, v in samples.get(metric, []) if all(lab.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, f"{metric}{labels}: {found} in {samples.get(metric)}"
    return found[0]


def collector_for(client, **kwargs):
    """No engine watcher: every scrape inspects, stats are one-shot."""
    kwargs.setdefault("stats_mode", "oneshot")
    kwargs.setdefault("watcher", None)
    return DockerCollector(client_factory=lambda *_: client, **kwargs)


# -- parse -----------------------------------------------------------------

def test_timestamps_with_nanoseconds_zero_time_and_offsets():
    assert parse.parse_timestamp("2024-05-01T10:00:00.123456789Z") == pytest.approx(1714557600.123456789)
    assert parse.parse_timestamp("2024-05-01T12:00:00+02:00") == 1714557600.0
    assert parse.parse_timestamp("0001-01-01T00:00:00Z") is None
    assert parse.parse_timestamp("") is None
    assert parse.parse_timestamp("yesterday") is None


def test_memory_cgroup_v1_uses_hierarchical_inactive_file():
    memory = parse.memory_bytes(STATS_V1)
    detail = STATS_V1["memory_stats"]["stats"]
    assert memory["usage"] == STATS_V1["memory_stats"]["usage"]
    assert memory["working_set"] == memory["usage"] - detail["total_inactive_file"]
    assert memory["rss"] == detail["total_rss"]


def test_memory_cgroup_v2_uses_inactive_file():
    memory = parse.memory_bytes(STATS_V2)
    assert memory == {"usage": 52428800, "working_set": 52428800 - 25165824, "rss": 20971520, "cache": 29360128}


def test_working_set_never_negative():
    stats = {"memory_stats": {"usage": 100, "stats": {"inactive_file": 500}}}
    assert parse.memory_bytes(stats)["working_set"] == 0


def test_no_memory_or_cpu_for_empty_stats():
    # What the engine answers for a container that stopped meanwhile.
    assert parse.memory_bytes({"memory_stats": {}}) is None
    assert parse.cpu_seconds({"cpu_stats": {"cpu_usage": {}}}) is None


def test_cpu_seconds_from_nanoseconds():
    assert parse.cpu_seconds(STATS_V2) == {"total": 2.5, "user": 2.0, "system": 0.5}


def test_block_io_sums_devices_in_both_layouts():
    assert parse.block_io_bytes(STATS_V2) == {"read": 4100000, "write": 1048576}
    v1 = {"blkio_stats": {"io_service_bytes_recursive": [
        {"major": 8, "minor": 0, "op": "Read", "value": 10}, {"major": 8, "minor": 0, "op": "Write", "value": 20},
        {"major": 8, "minor": 0, "op": "Total", "value": 30}, {"major": 8, "minor": 0, "op": "Sync", "value": 30}]}}
    assert parse.block_io_bytes(v1) == {"read": 10, "write": 20}
    assert parse.block_io_bytes({"blkio_stats": {"io_service_bytes_recursive": None}}) == {"read": 0, "write": 0}


def test_network_counters_per_interface():
    counters = parse.network_counters(STATS_V2)
    assert counters["eth0"]["receive_errors"] == 1
    assert counters["eth0"]["receive_packets_dropped"] == 2
    assert counters["eth0"]["transmit_packets_dropped"] == 3
    assert counters["eth1"]["transmit_bytes"] == 9


def test_container_name_skips_link_aliases():
    assert parse.container_name({"Names": ["/web/db", "/db"]}) == "db"


# -- collector ---------------------------------------------------------------

def test_every_container_has_one_hot_state_and_health():
    samples = scrape(collector_for(FakeClient()))
    for cid, current, health in ((RUN_ID, "running", "healthy"), (EXIT_ID, "exited", "none")):
        states = {lab["state"]: v for lab, v in samples["docker_container_state"] if lab["id"] == cid}
        assert set(states) == set(parse.STATES)
        assert {s for s, v in states.items() if v == 1} == {current}
        statuses = {lab["status"]: v for lab, v in samples["docker_container_health_status"] if lab["id"] == cid}
        assert set(statuses) == set(parse.HEALTH_STATUSES)
        assert {s for s, v in statuses.items() if v == 1} == {health}


def test_cadvisor_names_and_labels_for_running_container():
    samples = scrape(collector_for(FakeClient()))
    name = "vpsmon-it-dx-rec-run"
    labels = {"name": name, "id": RUN_ID, "image": "vps-monitoring/python-base:0dac173df39a"}
    assert value(samples, "container_cpu_usage_seconds_total", **labels) == pytest.approx(0.061974353)
    usage = STATS_V1["memory_stats"]["usage"]
    assert value(samples, "container_memory_usage_bytes", name=name) == usage
    inactive = STATS_V1["memory_stats"]["stats"]["total_inactive_file"]
    assert value(samples, "container_memory_working_set_bytes", name=name) == usage - inactive
    assert value(samples, "container_spec_memory_limit_bytes", name=name) == 64 * 1024 * 1024
    assert value(samples, "container_network_receive_bytes_total", name=name, interface="eth0") == 736
    assert value(samples, "container_fs_reads_bytes_total", name=name) == 0
    started = parse.parse_timestamp(INSPECT[RUN_ID]["State"]["StartedAt"])
    assert value(samples, "container_start_time_seconds", name=name) == pytest.approx(started)
    assert value(samples, "container_last_seen", name=name) == pytest.approx(time.time(), abs=60)
    assert value(samples, "docker_container_info", name=name, restart_policy="unless-stopped") == 1


def test_exited_container_state_without_resource_series():
    samples = scrape(collector_for(FakeClient()))
    name = "vpsmon-it-dx-rec-exit"
    assert value(samples, "docker_container_last_exit_code", name=name) == 3
    assert value(samples, "docker_container_oom_killed", name=name) == 0
    assert value(samples, "docker_container_restarts_total", name=name) == 0
    assert value(samples, "container_spec_memory_limit_bytes", name=name) == 0  # unlimited
    assert value(samples, "docker_container_info", name=name, restart_policy="no") == 1
    for metric in ("container_cpu_usage_seconds_total", "container_memory_usage_bytes", "container_last_seen"):
        assert all(lab["name"] != name for lab, _value in samples.get(metric, []))


def test_oneshot_mode_asks_for_one_shot_stats_of_running_containers_only():
    client = FakeClient()
    scrape(collector_for(client))
    assert client.stats_calls == [(RUN_ID, False, True)]


def test_oom_killed_and_restart_count():
    inspect = copy.deepcopy(INSPECT)
    inspect[EXIT_ID]["State"].update({"OOMKilled": True, "ExitCode": 137})
    inspect[EXIT_ID]["RestartCount"] = 4
    samples = scrape(collector_for(FakeClient(inspect=inspect)))
    assert value(samples, "docker_container_oom_killed", name="vpsmon-it-dx-rec-exit") == 1
    assert value(samples, "docker_container_last_exit_code", name="vpsmon-it-dx-rec-exit") == 137
    assert value(samples, "docker_container_restarts_total", name="vpsmon-it-dx-rec-exit") == 4


def test_container_removed_between_list_and_inspect_is_skipped():
    inspect = copy.deepcopy(INSPECT)
    del inspect[EXIT_ID]
    samples = scrape(collector_for(FakeClient(inspect=inspect)))
    assert value(samples, "docker_up") == 1
    assert {lab["name"] for lab, _value in samples["docker_container_state"]} == {"vpsmon-it-dx-rec-run"}
    assert all(v == 0 for _labels, v in samples["docker_exporter_scrape_errors_total"])


def test_container_removed_before_stats_keeps_its_state():
    samples = scrape(collector_for(FakeClient(stats={})))
    assert value(samples, "docker_container_state", name="vpsmon-it-dx-rec-run", state="running") == 1
    assert "container_cpu_usage_seconds_total" not in samples or not samples["container_cpu_usage_seconds_total"]
    assert all(v == 0 for _labels, v in samples["docker_exporter_scrape_errors_total"])


def test_failing_container_counts_an_error_but_not_the_scrape():
    inspect = copy.deepcopy(INSPECT)
    inspect[EXIT_ID] = docker.errors.APIError("500 Server Error")
    samples = scrape(collector_for(FakeClient(inspect=inspect)))
    assert value(samples, "docker_up") == 1
    assert value(samples, "docker_exporter_scrape_errors_total", kind="container") == 1
    assert value(samples, "docker_container_state", name="vpsmon-it-dx-rec-run", state="running") == 1


def test_unreachable_daemon_gives_docker_up_0_and_counts_errors():
    def factory(*_):
        raise docker.errors.DockerException("Error while fetching server API version: connection refused")

    collector = DockerCollector(client_factory=factory, watcher=None)
    first = scrape(collector)
    assert value(first, "docker_up") == 0
    assert value(first, "docker_exporter_scrape_errors_total", kind="daemon") == 1
    assert "docker_container_state" not in first or not first["docker_container_state"]
    second = scrape(collector)
    assert value(second, "docker_exporter_scrape_errors_total", kind="daemon") == 2  # monotonic


def test_daemon_recovers_after_outage():
    calls = {"n": 0}
    client = FakeClient()

    def factory(*_):
        calls["n"] += 1
        if calls["n"] == 1:
            raise docker.errors.DockerException("down")
        return client

    collector = DockerCollector(client_factory=factory, stats_mode="oneshot", watcher=None)
    assert value(scrape(collector), "docker_up") == 0
    assert value(scrape(collector), "docker_up") == 1


def test_hung_container_call_is_cut_by_the_scrape_deadline():
    release = threading.Event()
    inspect = copy.deepcopy(INSPECT)

    def hang():
        release.wait(10)
        raise docker.errors.APIError("timed out")

    inspect[EXIT_ID] = hang
    collector = collector_for(FakeClient(inspect=inspect), scrape_timeout=0.5)
    started = time.monotonic()
    try:
        samples = scrape(collector)
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert value(samples, "docker_up") == 1
    assert value(samples, "docker_exporter_scrape_errors_total", kind="timeout") == 1
    assert value(samples, "docker_container_state", name="vpsmon-it-dx-rec-run", state="running") == 1


def test_stream_mode_without_a_watcher_falls_back_to_oneshot():
    client = FakeClient()
    collector = DockerCollector(client_factory=lambda *_: client, stats_mode="stream", watcher=None)
    samples = scrape(collector)
    assert collector.stats_mode == "oneshot"
    assert client.stats_calls == [(RUN_ID, False, True)]
    assert value(samples, "docker_exporter_build_info", stats_mode="oneshot") == 1


def test_unsupported_docker_url_disables_the_watcher_not_the_exporter():
    client = FakeClient()
    collector = DockerCollector(base_url="ssh://user@host", client_factory=lambda *_: client)
    assert collector.stats_mode == "oneshot"
    assert value(scrape(collector), "docker_up") == 1


def test_summary_health_from_status_text():
    assert parse.summary_health("Up 2 minutes (healthy)") == "healthy"
    assert parse.summary_health("Up 5 seconds (health: starting)") == "starting"
    assert parse.summary_health("Up 1 hour (unhealthy)") == "unhealthy"
    assert parse.summary_health("Exited (3) 2 minutes ago") == "none"
    assert parse.summary_health(None) == "none"


def test_scrape_duration_and_build_info_exposed():
    samples = scrape(collector_for(FakeClient()))
    assert value(samples, "docker_exporter_scrape_duration_seconds") >= 0
    assert value(samples, "docker_exporter_containers") == 2
    assert value(samples, "docker_exporter_build_info") == 1


def test_bad_stats_mode_rejected():
    with pytest.raises(ValueError, match="stats_mode"):
        DockerCollector(stats_mode="fast")


def test_cli_rejects_bad_listen_address(capsys):
    from docker_exporter.__main__ import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--listen-address", "9487"])
    assert "HOST:PORT" in capsys.readouterr().err
    args = parse_args(["--listen-address", "127.0.0.1:19487"])
    assert (args.host, args.port) == ("127.0.0.1", 19487)


def test_http_metrics_page_streams_the_same_families_as_generate_latest():
    from docker_exporter.server import make_server

    collector = collector_for(FakeClient())
    server = make_server(collector, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            page = response.read().decode()
        with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
            assert response.read() == b"ok\n"
    finally:
        server.shutdown()
        server.server_close()
    streamed = {(s.name, tuple(sorted(s.labels.items())))
                for family in text_string_to_metric_families(page) for s in family.samples}
    whole = {(s.name, tuple(sorted(s.labels.items())))
             for family in text_string_to_metric_families(generate_latest(build_registry(collector)).decode())
             for s in family.samples}
    assert streamed == whole
    assert ("docker_container_state", (("id", RUN_ID), ("image", "vps-monitoring/python-base:0dac173df39a"),
                                       ("name", "vpsmon-it-dx-rec-run"), ("state", "running"))) in streamed
    assert page.count("# TYPE docker_container_state gauge") == 1
