"""OTLP/HTTP on /v1/metrics and /v1/logs; /metrics and the health page.

Every refusal is answered (4xx with a google.rpc.Status body in the
request's own encoding), counted with a reason and logged.
"""

from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import decode
from .decode import BadRequest
from .receiver import INVALID_ARGUMENT, Receiver

PATHS = {"/v1/metrics": "metrics", "/v1/logs": "logs"}
PROTOBUF, JSON = "application/x-protobuf", "application/json"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Set by serve(): the shared receiver and limits.
    receiver: Receiver
    max_bytes: int
    read_timeout: float


class Headers(dict):
    """Request headers by lower-cased name (what the handlers read of them)."""

    def get(self, name: str, default=None):
        return super().get(name.lower(), default)


class OtlpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "otlp-receiver"
    server: Server
    _date: tuple[int, str] = (0, "")

    def date_time_string(self, timestamp=None) -> str:
        """The Date header, formatted once per second (not per request)."""
        now = int(time.time()) if timestamp is None else int(timestamp)
        if OtlpHandler._date[0] != now:
            OtlpHandler._date = (now, super().date_time_string(now))
        return OtlpHandler._date[1]

    def parse_request(self) -> bool:
        """Request line and headers, parsed directly: the base class's
        email-parser route costs more than decoding a small OTLP export."""
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = line
        words = line.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.request_version = "HTTP/1.0"
            self.close_connection = True
            self.send_error(400, "Bad request line")
            return False
        self.command, self.path, self.request_version = words
        headers = Headers()
        for _count in range(101):
            raw = self.rfile.readline(65537)
            if len(raw) > 65536:
                self.send_error(431, "Header line too long")
                return False
            if raw in (b"\r\n", b"\n", b""):
                break
            name, sep, value = raw.decode("iso-8859-1").partition(":")
            if not sep:
                self.send_error(400, "Malformed header line")
                return False
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = headers
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive")
        if headers.get("expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        return True

    def setup(self) -> None:
        # A client that stops sending mid-request frees its thread after this.
        self.timeout = self.server.read_timeout
        super().setup()
        # Answers go out in one write; without Nagle's delay (which, with the
        # client's delayed ACK, stalls small request/response exchanges).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        """Requests are counted, not logged one by one."""

    def _answer(self, status: int, body: bytes, ctype: str, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        # end_headers() without its flush, then headers and body in one write.
        self._headers_buffer.extend((b"\r\n", body))
        self.flush_headers()

    def _refuse(self, status: int, reason: str, text: str, ctype: str = "", close: bool = False) -> None:
        self.server.receiver.refuse("http", reason, text, self.client_address[0])
        if ctype == PROTOBUF:
            body = decode.status_protobuf(INVALID_ARGUMENT, text)
        elif ctype == JSON:
            body = json.dumps({"code": INVALID_ARGUMENT, "message": text}).encode()
        else:
            ctype, body = "text/plain; charset=utf-8", (text + "\n").encode()
        try:
            self._answer(status, body, ctype, close)
        except OSError:
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._refuse(405, "method_not_allowed", "OTLP/HTTP takes POST to /v1/metrics or /v1/logs", close=False)

    do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if length is None:
            raise BadRequest("length_required", "send Content-Length or chunked encoding", 411)
        try:
            size = int(length)
        except ValueError:
            raise BadRequest("bad_length", f"Content-Length {length!r} is not a number") from None
        if size > limit or size < 0:
            raise BadRequest("too_large", f"body of {size} bytes exceeds the limit of {limit} bytes", 413)
        body = self.rfile.read(size)
        if len(body) < size:
            raise BadRequest("incomplete_body", f"connection ended after {len(body)} of {size} bytes")
        return body

    def _read_chunked(self, limit: int) -> bytes:
        parts, total = [], 0
        while True:
            line = self.rfile.readline(100)
            if not line:
                raise BadRequest("incomplete_body", "connection ended inside a chunked body")
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadRequest("bad_chunk", "invalid chunk size line") from None
            if size == 0:
                while self.rfile.readline(1000) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise BadRequest("too_large", f"chunked body exceeds the limit of {limit} bytes", 413)
            chunk = self.rfile.read(size + 2)
            if len(chunk) < size + 2:
                raise BadRequest("incomplete_body", "connection ended inside a chunk")
            parts.append(chunk[:size])

    def do_POST(self) -> None:  # noqa: N802
        signal = PATHS.get(self.path.split("?", 1)[0])
        if signal is None:
            self._refuse(404, "unknown_path", f"no OTLP endpoint at {self.path[:100]}; use /v1/metrics or /v1/logs")
            return
        ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
        limit = self.server.max_bytes
        try:
            if ctype not in (PROTOBUF, JSON):
                # Read (within the limit) so the connection stays usable.
                self._read_body(limit)
                raise BadRequest("unsupported_content_type",
                                 f"Content-Type {ctype or 'missing'!r}: use {PROTOBUF} or {JSON}", 415)
            if encoding not in ("gzip", "identity", ""):
                self._read_body(limit)
                raise BadRequest("unsupported_encoding", f"Content-Encoding {encoding!r}: use gzip or none", 415)
            body = self._read_body(limit)
            if encoding == "gzip":
                body = decode.gunzip(body, limit)
            request = decode.parse_protobuf(signal, body) if ctype == PROTOBUF else decode.parse_json(signal, body)
        except BadRequest as exc:
            # After an unread or partial body the connection cannot be reused.
            close = exc.status in (411, 413) or exc.reason in ("incomplete_body", "bad_chunk", "bad_length")
            self._refuse(exc.status, exc.reason, str(exc), ctype, close=close)
            return
        except (TimeoutError, socket.timeout):
            self._refuse(408, "read_timeout", "the body did not arrive in time", ctype, close=True)
            return
        except OSError as exc:
            # The client went away: nothing to answer, but it is counted.
            self.server.receiver.refuse("http", "client_disconnected", str(exc), self.client_address[0])
            self.close_connection = True
            return
        out = self.server.receiver.export("http", signal, request, self.client_address[0])
        if out.dropped and not out.accepted:
            self._refuse_counted(signal, out.message(), ctype)
            return
        if ctype == PROTOBUF:
            body = decode.response(signal, out.rejected, out.message()).SerializeToString()
        else:
            body = decode.response_json(signal, out.rejected, out.message())
        self._answer(200, body, ctype)

    def _refuse_counted(self, signal: str, text: str, ctype: str) -> None:
        """Nothing in the request could be used: 400 (already counted per point)."""
        text = f"no {signal} data could be converted: {text}"
        if ctype == PROTOBUF:
            body = decode.status_protobuf(INVALID_ARGUMENT, text)
        else:
            body = json.dumps({"code": INVALID_ARGUMENT, "message": text}).encode()
        self._answer(400, body, ctype)


class PageHandler(BaseHTTPRequestHandler):
    """/metrics (the converted series and the receiver's own) and health."""

    protocol_version = "HTTP/1.1"
    server_version = "otlp-receiver"
    pages: dict  # path -> callable returning an iterator of str chunks

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        page = self.pages.get(self.path.split("?", 1)[0])
        if page is None:
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        ctype, chunks = page()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            data = chunk.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")


def make_server(address: tuple[str, int], handler, **attrs) -> ThreadingHTTPServer:
    server = Server(address, handler) if handler is OtlpHandler else ThreadingHTTPServer(address, handler)
    server.daemon_threads = True
    for key, value in attrs.items():
        setattr(server, key, value)
    return server
