"""Structural test of the otelcol config the otel_collector role renders.

The collector image cannot be pulled here, so the rendered file is checked
for what the role promises; when a collector binary or the image is at hand,
`otelcol validate` checks it too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "otel_collector"


def render(tmp_path: Path, extra: dict | None = None) -> dict:
    """Render both templates with the role's defaults and vars through Ansible."""
    play = tmp_path / "render.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(ROOT / "roles/stack/defaults/main.yml"), str(ROLE / "defaults/main.yml"),
                       str(ROLE / "vars/main.yml")],
        "tasks": [
            {"ansible.builtin.template": {"src": str(ROLE / "templates/otelcol-config.yaml.j2"),
                                          "dest": str(tmp_path / "config.yaml"), "mode": "0644"}},
            {"ansible.builtin.template": {"src": str(ROLE / "templates/vmagent-relabel.yml.j2"),
                                          "dest": str(tmp_path / "relabel.yml"), "mode": "0644"}},
            {"ansible.builtin.copy": {"content": "{{ {'gomemlimit': _otel_collector_gomemlimit_mib} | to_json }}",
                                      "dest": str(tmp_path / "derived.json"), "mode": "0644"}},
        ]}]))
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", json.dumps({"ansible_python_interpreter": sys.executable, **(extra or {})}), str(play)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache/collections")})
    assert out.returncode == 0, out.stdout + out.stderr
    return {"config": yaml.safe_load((tmp_path / "config.yaml").read_text()),
            "relabel": yaml.safe_load((tmp_path / "relabel.yml").read_text()),
            "derived": json.loads((tmp_path / "derived.json").read_text()),
            "path": tmp_path / "config.yaml"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render(tmp_path_factory.mktemp("otelcol"))


def test_receivers_listen_on_all_container_interfaces(rendered):
    protocols = rendered["config"]["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"


def test_memory_limiter_first_then_batch_last(rendered):
    cfg = rendered["config"]
    processors = cfg["service"]["pipelines"]["metrics"]["processors"]
    assert processors[0] == "memory_limiter" and processors[-1] == "batch"
    limiter = cfg["processors"]["memory_limiter"]
    assert limiter["check_interval"] == "1s"
    # 512m default: 80% = 409 MiB, spike 20% of that.
    assert limiter["limit_mib"] == 409 and limiter["spike_limit_mib"] == 81
    assert int(rendered["derived"]["gomemlimit"]) == 409
    for name in processors:
        assert name in cfg["processors"], f"pipeline uses undefined processor {name}"


def test_exporter_and_health_check(rendered):
    cfg = rendered["config"]
    exporter = cfg["exporters"]["prometheus"]
    assert exporter["endpoint"] == "0.0.0.0:8889"
    assert exporter["resource_to_telemetry_conversion"] == {"enabled": True}
    assert cfg["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus"]
    assert cfg["service"]["pipelines"]["metrics"]["receivers"] == ["otlp", "signaltometrics/claude_code_events"]
    assert cfg["extensions"]["health_check"]["endpoint"] == "0.0.0.0:13133"
    assert cfg["service"]["extensions"] == ["health_check"]


def test_same_contract_on_paper_logs_delta_limits(rendered):
    """Logs pipeline feeding the events connector, delta accumulation before
    the exporter, request and stream limits."""
    cfg = rendered["config"]
    pipelines = cfg["service"]["pipelines"]
    assert pipelines["logs"]["receivers"] == ["otlp"]
    assert pipelines["logs"]["exporters"] == ["signaltometrics/claude_code_events"]
    metrics = pipelines["metrics"]["processors"]
    assert metrics.index("deltatocumulative") < metrics.index("batch")
    assert metrics.index("transform/claude_code_events") < metrics.index("deltatocumulative")
    assert cfg["processors"]["deltatocumulative"] == {"max_stale": "15m", "max_streams": 50000}
    protocols = cfg["receivers"]["otlp"]["protocols"]
    assert protocols["http"]["max_request_body_size"] == 8388608
    assert protocols["grpc"]["max_recv_msg_size_mib"] == 8
    events = {m["name"]: m for m in cfg["connectors"]["signaltometrics/claude_code_events"]["logs"]}
    assert {"claude_code.api_requests", "claude_code.api_request.cost", "claude_code.api_request.duration",
            "claude_code.api_errors", "claude_code.tool_decisions", "claude_code.tool_results",
            "claude_code.user_prompts"} <= set(events)
    for metric in events.values():
        keys = {a["key"] for a in metric.get("attributes", [])}
        assert "session.id" in keys and not keys & {"prompt", "error", "tool_parameters"}, metric["name"]
    assert events["claude_code.api_request.duration"]["histogram"]["value"] == \
        'Double(attributes["duration_ms"]) / 1000.0'


def test_event_metric_names_match_otlp_receiver(rendered):
    """The connector's OTLP names give the Prometheus names otlp_receiver serves."""
    from otlp_receiver import events
    from otlp_receiver.names import metric_name

    served = set(events.NAMES.values())
    produced = set()
    for metric in rendered["config"]["connectors"]["signaltometrics/claude_code_events"]["logs"]:
        name = metric["name"]
        if name.startswith("claude_code.api_request.tokens."):
            name = "claude_code.api_request.tokens"  # transform/claude_code_events renames these
        produced.add(metric_name(name, metric.get("unit", ""), "sum" in metric))
    assert produced == served


def test_memory_values_follow_the_limit(tmp_path):
    cfg = render(tmp_path, {"otel_collector_memory_limit": "1g"})
    assert cfg["config"]["processors"]["memory_limiter"]["limit_mib"] == 819
    assert int(cfg["derived"]["gomemlimit"]) == 819


def test_vmagent_relabel_gives_documented_names(rendered):
    rules = rendered["relabel"]
    rename = [r for r in rules if r.get("target_label") == "__name__"]
    assert rename and rename[0]["replacement"] == "claude_code_code_edit_tool_decision_total"
    assert any(r.get("target_label") == "job" and r["source_labels"] == ["service_name"] for r in rules)


def test_otelcol_validates_the_rendered_config(rendered):
    binary = shutil.which("otelcol-contrib") or shutil.which("otelcol")
    if binary:
        out = subprocess.run([binary, "validate", f"--config={rendered['path']}"], capture_output=True, text=True,
                             check=False)
        assert out.returncode == 0, out.stderr
        return
    image = yaml.safe_load((ROLE / "defaults/main.yml").read_text())["otel_collector_image"]
    have = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    if have.returncode != 0:
        pytest.skip(f"otelcol validate not run: no otelcol binary on PATH and image {image} is not on this engine "
                    "(the OpenTelemetry collector has no package on any reachable registry and no image can be "
                    "pulled here); structural checks only")
    out = subprocess.run(["docker", "run", "--rm", "-v", f"{rendered['path']}:/etc/otelcol-contrib/config.yaml:ro",
                          image, "validate", "--config=/etc/otelcol-contrib/config.yaml"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
