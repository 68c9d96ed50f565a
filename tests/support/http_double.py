"""HTTP plumbing shared by the tests' doubles and recorders (never shipped).

The JSON reply every stand-in HTTP server writes, and a server run on a
daemon thread for in-process doubles. Standard library only, so a double
that runs in the offline python-base image can import it too (with
PYTHONPATH pointing at tests/).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler


def reply_json(handler: BaseHTTPRequestHandler, status: int, body: object) -> None:
    """Answer the request handler's request with status and body as JSON."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request's body (Content-Length bytes; empty without one)."""
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


class BackgroundServer:
    """An http.server (or xmlrpc.server) serving on a daemon thread until stop()."""

    server = None

    def serve(self, server, host: str) -> str:
        """Serve server in the background; return its base URL."""
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://{host}:{server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
