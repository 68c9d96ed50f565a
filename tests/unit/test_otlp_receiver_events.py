"""Claude Code's log events -> metrics, and request decoding limits, in the
OTLP receiver (no Docker: the conversion and decoding functions themselves)."""

from __future__ import annotations

import gzip
import json

import pytest
from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from prometheus_client.parser import text_string_to_metric_families

from otlp_receiver import decode
from otlp_receiver.events import Events
from otlp_receiver.store import Store

PROMPT = "my secret prompt text"


def kv(key, value):
    if isinstance(value, int) and not isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def logs(*records, service="claude-code") -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", service))
    sl = rl.scope_logs.add()
    for body, attrs, event_name in records:
        rec = sl.log_records.add()
        if body:
            rec.body.string_value = body
        if event_name:
            rec.event_name = event_name
        for k, v in {"session.id": "s1", **attrs}.items():
            rec.attributes.append(kv(k, v))
    return req


def samples(store: Store) -> dict:
    text = "".join(store.render())
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}, text


def total(store: Store, name: str, **labels) -> float:
    found, _text = samples(store)
    return sum(v for (n, lab), v in found.items() if n == name and all((k, x) in lab for k, x in labels.items()))


def test_api_request_event_in_every_documented_shape():
    store = Store(1000, 900)
    req = logs(
        # body claude_code.<event> and event.name=<event> (Claude Code's documented form)
        ("claude_code.api_request", {"event.name": "api_request", "model": "sonnet", "cost_usd": 0.5,
                                     "duration_ms": 2000, "input_tokens": 100, "output_tokens": 20,
                                     "cache_read_tokens": 0, "cache_creation_tokens": 7}, None),
        # numbers as strings, the name only in event.name with its prefix
        (None, {"event.name": "claude_code.api_request", "model": "sonnet", "cost_usd": "0.25",
                "duration_ms": "500", "input_tokens": "50"}, None),
        # the LogRecord's own event_name field
        (None, {"model": "haiku", "cost_usd": 0.125}, "claude_code.api_request"),
    )
    out = Events(store).ingest(req)
    assert (out.accepted, out.rejected) == (3, 0)
    assert total(store, "claude_code_api_requests_total", model="sonnet", job="claude-code", session_id="s1") == 2
    assert total(store, "claude_code_api_requests_total", model="haiku") == 1
    assert total(store, "claude_code_api_request_cost_USD_total", model="sonnet") == 0.75
    assert total(store, "claude_code_api_request_tokens_total", type="input") == 150
    assert total(store, "claude_code_api_request_tokens_total", type="cacheCreation") == 7
    assert total(store, "claude_code_api_request_duration_seconds_count", model="sonnet") == 2
    assert total(store, "claude_code_api_request_duration_seconds_sum", model="sonnet") == 2.5
    assert total(store, "claude_code_api_request_duration_seconds_bucket", model="sonnet", le="0.5") == 1
    assert total(store, "claude_code_api_request_duration_seconds_bucket", model="sonnet", le="2.5") == 2


def test_errors_tools_and_prompts_without_their_text():
    store = Store(1000, 900)
    out = Events(store).ingest(logs(
        ("claude_code.api_error", {"event.name": "api_error", "model": "sonnet", "status_code": "529",
                                   "attempt": 2, "error": "Overloaded: secret detail"}, None),
        ("claude_code.tool_decision", {"event.name": "tool_decision", "tool_name": "Bash", "decision": "reject",
                                       "source": "user_reject"}, None),
        ("claude_code.tool_result", {"event.name": "tool_result", "tool_name": "Edit", "success": "true",
                                     "duration_ms": 40, "tool_parameters": '{"cmd": "rm -rf secret"}'}, None),
        ("claude_code.user_prompt", {"event.name": "user_prompt", "prompt_length": len(PROMPT),
                                     "prompt": PROMPT}, None),
    ))
    assert (out.accepted, out.rejected) == (4, 0)
    assert total(store, "claude_code_api_errors_total", model="sonnet", status_code="529", attempt="2") == 1
    assert total(store, "claude_code_tool_decisions_total", decision="reject", tool_name="Bash") == 1
    assert total(store, "claude_code_tool_results_total", success="true", tool_name="Edit") == 1
    assert total(store, "claude_code_tool_result_duration_seconds_count", tool_name="Edit") == 1
    assert total(store, "claude_code_user_prompts_total", session_id="s1") == 1
    _found, text = samples(store)
    for secret in (PROMPT, "secret detail", "rm -rf"):
        assert secret not in text


def test_bad_events_change_nothing_and_are_counted():
    store = Store(1000, 900)
    events = Events(store)
    events.ingest(logs(("claude_code.api_request", {"event.name": "api_request", "model": "m", "cost_usd": 1.0},
                        None)))
    out = events.ingest(logs(
        ("claude_code.api_request", {"event.name": "api_request", "model": "m", "cost_usd": float("nan")}, None),
        ("claude_code.api_request", {"event.name": "api_request", "model": "m", "cost_usd": "lots"}, None),
        ("claude_code.api_request", {"event.name": "api_request", "model": "m", "duration_ms": -5}, None),
        ("some other log line", {}, None),
    ))
    assert out.accepted == 0
    assert dict(out.dropped) == {"nan_value": 1, "invalid_attribute": 2, "not_a_claude_code_event": 1}
    assert total(store, "claude_code_api_requests_total") == 1
    assert total(store, "claude_code_api_request_cost_USD_total") == 1.0


def test_gzip_limits_and_bad_bodies():
    assert decode.gunzip(gzip.compress(b"x" * 1000), 1000) == b"x" * 1000
    with pytest.raises(decode.BadRequest) as bomb:
        decode.gunzip(gzip.compress(b"\0" * 100_000), 1000)
    assert (bomb.value.reason, bomb.value.status) == ("too_large", 413)
    with pytest.raises(decode.BadRequest, match="gzip") as bad:
        decode.gunzip(b"\x1f\x8b\x08\x00nonsense", 1000)
    assert bad.value.reason == "bad_gzip"
    with pytest.raises(decode.BadRequest) as truncated:
        decode.gunzip(gzip.compress(b"y" * 5000)[:20], 10_000)
    assert truncated.value.reason == "bad_gzip"
    with pytest.raises(decode.BadRequest) as garbage:
        decode.parse_protobuf("metrics", b"\xff\xfe\xfd not protobuf")
    assert garbage.value.reason == "bad_protobuf"
    for body in (b"[1, 2]", b"{not json", b'{"resourceLogs": 5}'):
        with pytest.raises(decode.BadRequest) as err:
            decode.parse_json("logs", body)
        assert err.value.reason == "bad_json"


def test_otlp_json_with_hex_ids_and_camel_case():
    req = logs(("claude_code.user_prompt", {"event.name": "user_prompt"}, None))
    req.resource_logs[0].scope_logs[0].log_records[0].trace_id = bytes(range(16))
    data = json.loads(MessageToJson(req))
    data["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] = "5b8efff798038103d269b633813fc60c"
    parsed = decode.parse_json("logs", json.dumps(data).encode())
    assert parsed.resource_logs[0].scope_logs[0].log_records[0].body.string_value == "claude_code.user_prompt"


def test_status_body_is_a_google_rpc_status():
    body = decode.status_protobuf(3, "bad")
    assert body == b"\x08\x03\x12\x03bad"
