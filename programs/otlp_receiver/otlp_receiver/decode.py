"""Request bodies -> OTLP messages, with the size limits applied on the way."""

from __future__ import annotations

import json
import zlib

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

REQUESTS = {
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
RESPONSES = {
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}
# Name of the partial_success field counting what was refused.
REJECTED_FIELD = {"metrics": "rejected_data_points", "logs": "rejected_log_records"}
# OTLP/JSON carries trace and span ids as hex, not protobuf-JSON's base64;
# nothing here uses them, so they are removed before parsing.
_HEX_IDS = ("traceId", "spanId", "trace_id", "span_id")


class BadRequest(Exception):
    """The body cannot be used: the reason is a label value, the text is for the client."""

    def __init__(self, reason: str, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.reason = reason
        self.status = status


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress, refusing output above limit (a small bomb stays small)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise BadRequest("too_large", f"decompressed body exceeds {limit} bytes", 413)
        if not inflater.eof:
            raise BadRequest("bad_gzip", "gzip stream is truncated")
    except zlib.error as exc:
        raise BadRequest("bad_gzip", f"invalid gzip body: {exc}") from None
    return out


def parse_protobuf(signal: str, body: bytes):
    try:
        return REQUESTS[signal].FromString(body)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise BadRequest("bad_protobuf", f"body is not an OTLP {signal} protobuf message: {exc}") from None


def _strip_ids(node) -> None:
    if isinstance(node, dict):
        for key in _HEX_IDS:
            node.pop(key, None)
        for value in node.values():
            _strip_ids(value)
    elif isinstance(node, list):
        for value in node:
            _strip_ids(value)


def parse_json(signal: str, body: bytes):
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("the top level is not an object")
        _strip_ids(data)
        return json_format.ParseDict(data, REQUESTS[signal](), ignore_unknown_fields=True)
    except (ValueError, json_format.ParseError, RecursionError) as exc:
        raise BadRequest("bad_json", f"body is not OTLP/JSON {signal}: {str(exc)[:200]}") from None


def response(signal: str, rejected: int, message: str):
    resp = RESPONSES[signal]()
    if rejected:
        setattr(resp.partial_success, REJECTED_FIELD[signal], rejected)
        resp.partial_success.error_message = message[:1000]
    return resp


def response_json(signal: str, rejected: int, message: str) -> bytes:
    return json_format.MessageToJson(response(signal, rejected, message), indent=None).encode()


def status_protobuf(code: int, message: str) -> bytes:
    """google.rpc.Status{code, message}, encoded by hand (two fields)."""
    text = message.encode()
    out = bytearray()
    if code:
        out += b"\x08" + _varint(code)
    out += b"\x12" + _varint(len(text)) + text
    return bytes(out)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
