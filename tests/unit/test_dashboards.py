# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shipped dashboards: fixed uids, one data-source variable, and only metrics this stack produces.

promtool parsing of every expression is in tests/integration/test_grafana_dashboards_promtool.py
(it needs Docker).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ansible_collections.vps.monitoring.plugins.filter.dashboard_expressions import dashboard_expressions

DASHBOARDS = Path(__file__).resolve().parents[2] / "roles" / "grafana" / "files" / "dashboards"

# Metric names the stack produces, by source. Derived from node-exporter 1.9's
# collectors, programs/docker_exporter/docker_exporter/collector.py
# (cAdvisor names + docker_container_*), and Claude Code's OTLP metrics as
# the collector/vmagent name them (tests/e2e_claude/send_claude_metrics.py).
NODE_EXPORTER = {
    "node_cpu_seconds_total", "node_load1", "node_load5", "node_load15", "node_boot_time_seconds",
    "node_time_seconds", "node_uname_info", "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
    "node_memory_Cached_bytes", "node_memory_Buffers_bytes", "node_memory_SwapTotal_bytes",
    "node_memory_SwapFree_bytes", "node_filesystem_avail_bytes", "node_filesystem_size_bytes",
    "node_disk_read_bytes_total", "node_disk_written_bytes_total", "node_disk_io_time_seconds_total",
    "node_network_receive_bytes_total", "node_network_transmit_bytes_total",
    "node_network_receive_errs_total", "node_network_transmit_errs_total",
    "node_network_receive_drop_total", "node_network_transmit_drop_total",
}
DOCKER_EXPORTER = {
    "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
    "container_memory_usage_bytes", "container_spec_memory_limit_bytes", "container_start_time_seconds",
    "container_network_receive_bytes_total", "container_network_transmit_bytes_total",
    "container_fs_reads_bytes_total", "container_fs_writes_bytes_total", "container_last_seen",
    "docker_container_state", "docker_container_restarts_total", "docker_container_health_status",
    "docker_container_oom_killed",
}
CLAUDE_CODE = {
    "claude_code_token_usage_tokens_total", "claude_code_cost_usage_USD_total",
    "claude_code_active_time_seconds_total", "claude_code_lines_of_code_count_total",
    "claude_code_session_count_total",
    # From Claude Code's log events (otlp_receiver / otelcol's signaltometrics connector).
    "claude_code_api_requests_total", "claude_code_api_errors_total", "claude_code_api_request_cost_USD_total",
    "claude_code_api_request_duration_seconds_bucket", "claude_code_tool_decisions_total",
    "claude_code_tool_results_total",
}
# blackbox-exporter's probe series (the Endpoints panels of linux-system).
BLACKBOX = {"probe_success", "probe_duration_seconds", "probe_http_status_code",
            "probe_ssl_earliest_cert_expiry"}
PRODUCED = {"linux-system": NODE_EXPORTER | BLACKBOX, "docker-containers": DOCKER_EXPORTER,
            "claude-code": CLAUDE_CODE}
UIDS = {"linux-system": "vpsmon-linux-system", "docker-containers": "vpsmon-docker-containers",
        "claude-code": "vpsmon-claude-code"}

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
            "and", "or", "unless", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (good enough for the shipped dashboards)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)             # string literals
    text = re.sub(r"\{[^}]*\}", "", text)                          # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                         # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word, rest = match.group(0), text[match.end():].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("(") or text[match.start() - 1: match.start()] == "$":
            continue
        names.add(word)
    return names


def load(name):
    return json.loads((DASHBOARDS / (name + ".json")).read_text())


def test_metric_name_extraction():
    assert metric_names('sum by (name) (rate(container_cpu_usage_seconds_total{name=~"$name"}[5m]))') \
        == {"container_cpu_usage_seconds_total"}
    assert metric_names("node_load1 / on (instance) count by (instance) (node_cpu_seconds_total)") \
        == {"node_load1", "node_cpu_seconds_total"}


@pytest.mark.parametrize("name", sorted(PRODUCED))
def test_dashboard_shape(name):
    dash = load(name)
    assert dash["uid"] == UIDS[name] and dash["title"]
    assert "id" not in dash and "version" not in dash, "server fields would make every run 'changed'"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in dash["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])


@pytest.mark.parametrize("name", sorted(PRODUCED))
def test_dashboard_uses_only_produced_metrics(name):
    expressions = dashboard_expressions(load(name))
    assert len(expressions) >= 10
    used = set()
    for item in expressions:
        names = metric_names(item["expr"])
        assert names, "no metric in %s: %s" % (item["name"], item["expr"])
        unknown = names - PRODUCED[name]
        assert not unknown, "%s uses %s, which the stack does not produce" % (item["name"], unknown)
        used |= names


def test_required_subjects_are_covered():
    used = {n: set().union(*(metric_names(e["expr"]) for e in dashboard_expressions(load(n))))
            for n in PRODUCED}
    assert {"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes",
            "node_network_receive_bytes_total", "node_load1"} <= used["linux-system"]
    assert {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
            "container_fs_reads_bytes_total", "container_network_receive_bytes_total",
            "docker_container_restarts_total", "docker_container_state"} <= used["docker-containers"]
    assert {"claude_code_token_usage_tokens_total", "claude_code_cost_usage_USD_total",
            "claude_code_active_time_seconds_total", "claude_code_lines_of_code_count_total"} \
        <= used["claude-code"]
    claude = json.dumps(load("claude-code"))
    assert "session_id" in claude and "by (model)" in claude and "[1d]" in claude


def test_filter_walks_rows_variables_and_skips_non_prometheus():
    dash = {"title": "T", "panels": [
        {"type": "row", "title": "R", "panels": [{"title": "inner", "targets": [{"refId": "A", "expr": "up"}]}]},
        {"title": "expr", "targets": [{"refId": "B", "expr": "$A * 2", "datasource": {"type": "__expr__"}}]}],
        "templating": {"list": [
            {"name": "i", "type": "query", "query": {"query": "label_values(node_uname_info{job=\"n\"}, instance)"}},
            {"name": "l", "type": "query", "query": "label_values(job)"},
            {"name": "c", "type": "custom", "query": "a,b"}]}}
    assert dashboard_expressions(json.dumps(dash)) == [
        {"name": "T / inner [A]", "expr": "up"},
        {"name": "T / variable i", "expr": 'node_uname_info{job="n"}'}]
