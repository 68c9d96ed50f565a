"""OTLP/gRPC: the metrics and logs Export services on one port.

Requests arrive as raw bytes and are parsed here, so a body that is not an
OTLP message is answered INVALID_ARGUMENT and counted like an HTTP one
(grpc's own deserializer would answer INTERNAL uncounted). gRPC applies the
size limit itself (RESOURCE_EXHAUSTED) and gzip per the client's header.
"""

from __future__ import annotations

from concurrent import futures

import grpc

from . import decode
from .decode import BadRequest
from .receiver import Receiver

SERVICES = {
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


def _peer(context) -> str:
    peer = context.peer() or "?"
    return peer.split(":", 1)[1].rsplit(":", 1)[0] if peer.startswith("ipv") else peer


def _handler(receiver: Receiver, signal: str):
    def export(body: bytes, context):
        peer = _peer(context)
        try:
            request = decode.parse_protobuf(signal, body)
        except BadRequest as exc:
            receiver.refuse("grpc", exc.reason, str(exc), peer)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        out = receiver.export("grpc", signal, request, peer)
        if out.dropped and not out.accepted:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"no {signal} data could be converted: {out.message()}")
        return decode.response(signal, out.rejected, out.message())

    return grpc.unary_unary_rpc_method_handler(
        export, request_deserializer=None, response_serializer=lambda msg: msg.SerializeToString())


def make_server(receiver: Receiver, address: str, max_bytes: int, workers: int) -> grpc.Server:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        options=[("grpc.max_receive_message_length", max_bytes),
                 ("grpc.so_reuseport", 0)],
        maximum_concurrent_rpcs=workers * 16)
    for signal, service in SERVICES.items():
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"Export": _handler(receiver, signal)}),))
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen on {address} for gRPC")
    return server
