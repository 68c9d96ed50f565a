# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Long-lived Engine API streams read without a thread each.

The Engine API streams stats and events as newline-delimited JSON in an
HTTP/1.1 chunked response. Holding one such stream per running container
through the Docker SDK costs a thread, a requests response and a pooled
connection each; here a stream is a non-blocking socket plus a small
incremental parser, so one selector thread (watcher.py) reads them all.

Only plain transports are supported (unix:// sockets and tcp:// or http://
without TLS): the role mounts the local socket. Other URLs make
open_stream raise UnsupportedTransport, and the exporter falls back to
one-shot stats.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import quote, urlsplit

# A stats document is 2-4 KiB and an event well under 1 KiB; a line this
# long means the peer is not the Engine API, and buffering it further would
# only spend memory.
MAX_LINE = 1 << 20
MAX_HEADER = 16 << 10


class UnsupportedTransport(ValueError):
    """The Docker URL is not a plain unix or tcp transport."""


class StreamError(Exception):
    """The peer broke HTTP framing or answered with an error status."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def connect_address(base_url: str) -> tuple[int, object]:
    """(socket family, address) for a Docker URL (unix:///path, tcp://host:port)."""
    parts = urlsplit(base_url)
    if parts.scheme in ("unix", "http+unix"):
        path = parts.path or parts.netloc
        if not path:
            raise UnsupportedTransport(f"{base_url!r} names no socket path")
        return socket.AF_UNIX, path
    if parts.scheme in ("tcp", "http"):
        if not parts.hostname:
            raise UnsupportedTransport(f"{base_url!r} names no host")
        return socket.AF_INET6 if ":" in parts.hostname else socket.AF_INET, (parts.hostname, parts.port or 2375)
    raise UnsupportedTransport(
        f"streams need a unix:// or plain tcp:// Docker URL, not {parts.scheme or base_url!r}")


def request_path(api_version: str | None, path: str, query: dict | None = None) -> str:
    """/v1.41/containers/ID/stats?stream=1; unversioned when the version is unknown."""
    prefix = f"/v{api_version}" if api_version else ""
    encoded = ""
    if query:
        encoded = "?" + "&".join(f"{key}={quote(str(value), safe='')}" for key, value in query.items())
    return prefix + path + encoded


def open_stream(base_url: str, path: str) -> socket.socket:
    """A non-blocking socket with the GET request for path already sent.

    connect() on a local unix socket or loopback completes at once; sending the
    small request before switching to non-blocking keeps the loop simple.
    """
    family, address = connect_address(base_url)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(5)
        sock.connect(address)
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: docker\r\n"
                      "User-Agent: vps-monitoring-docker-exporter\r\nAccept: application/json\r\n\r\n").encode())
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class LineStream:
    """Incremental parser: HTTP response bytes in, decoded JSON documents out.

    feed() accepts any split of the byte stream (a chunk-size line cut in two,
    a document spread over chunks) and returns the documents completed by
    these bytes. Handles chunked, Content-Length and close-delimited bodies;
    `finished` becomes true at the end of the body.
    """

    def __init__(self):
        self.status: int | None = None
        self.finished = False
        self._buffer = bytearray()  # bytes not yet parsed
        self._line = bytearray()  # body bytes of the current, incomplete document
        self._phase = "head"  # head, size, data, data-end, trailer, raw
        self._remaining = 0  # bytes left in the current chunk (or the whole body)
        self._length_known = False

    def feed(self, data: bytes) -> list:
        self._buffer += data
        documents: list = []
        while not self.finished and self._step(documents):
            pass
        return documents

    def eof(self) -> list:
        """The peer closed: a close-delimited body ends here; anything else is cut short."""
        if self.finished:
            return []
        if self._phase == "raw" and not self._length_known:
            self.finished = True
            return self._take_lines(final=True)
        raise StreamError("connection closed in the middle of the response")

    # -- phases -------------------------------------------------------------

    def _step(self, documents: list) -> bool:
        """Parse what the buffer allows; False when more bytes are needed."""
        if self._phase == "head":
            return self._head()
        if self._phase == "size":
            line = self._cut_line()
            if line is None:
                return False
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise StreamError(f"bad chunk size {bytes(size_text[:20])!r}") from None
            self._remaining = size
            self._phase = "data" if size else "trailer"
            return True
        if self._phase in ("data", "raw"):
            if not self._buffer:
                return False
            take = len(self._buffer) if self._phase == "raw" and not self._length_known else \
                min(self._remaining, len(self._buffer))
            self._append_body(self._buffer[:take], documents)
            del self._buffer[:take]
            if self._phase == "data" or self._length_known:
                self._remaining -= take
                if self._remaining == 0:
                    if self._phase == "data":
                        self._phase = "data-end"
                    else:
                        self.finished = True
                        documents.extend(self._take_lines(final=True))
            return True
        if self._phase == "data-end":
            if len(self._buffer) < 2:
                return False
            if self._buffer[:2] != b"\r\n":
                raise StreamError("chunk not followed by CRLF")
            del self._buffer[:2]
            self._phase = "size"
            return True
        if self._phase == "trailer":
            line = self._cut_line()
            if line is None:
                return False
            if not line:  # the empty line after the (usually absent) trailers
                self.finished = True
                documents.extend(self._take_lines(final=True))
            return True
        raise AssertionError(self._phase)  # pragma: no cover

    def _head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER:
                raise StreamError("response header too large")
            return False
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[:end + 4]
        status_line = head[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/") or not status_line[1].isdigit():
            raise StreamError(f"not an HTTP response: {head[0][:60]!r}")
        self.status = int(status_line[1])
        headers = {}
        for line in head[1:]:
            name, _sep, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if self.status != 200:
            # The body is a short JSON {"message": ...}; the status says enough.
            raise StreamError(f"HTTP {self.status}", status=self.status)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._phase = "size"
        elif "content-length" in headers:
            self._phase, self._length_known = "raw", True
            self._remaining = int(headers["content-length"])
            if self._remaining == 0:
                self.finished = True
        else:
            self._phase = "raw"
        return True

    def _cut_line(self) -> bytearray | None:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER:
                raise StreamError("chunk header line too long")
            return None
        line = self._buffer[:end]
        del self._buffer[:end + 2]
        return line

    def _append_body(self, data, documents: list):
        self._line += data
        documents.extend(self._take_lines(final=False))
        if len(self._line) > MAX_LINE:
            raise StreamError(f"a document longer than {MAX_LINE} bytes")

    def _take_lines(self, final: bool) -> list:
        documents = []
        while True:
            end = self._line.find(b"\n")
            if end < 0:
                break
            line = bytes(self._line[:end]).strip()
            del self._line[:end + 1]
            if line:
                documents.append(_decode(line))
        if final and self._line.strip():
            documents.append(_decode(bytes(self._line)))
            self._line.clear()
        return documents


def _decode(line: bytes):
    try:
        return json.loads(line)
    except ValueError as exc:
        raise StreamError(f"not JSON: {exc}") from None
