"""Recording HTTP sink that stands in for the n8n webhook in tests.

POST to any path records the JSON body (Alertmanager's webhook payload) with
the path; GET /received returns everything recorded so far as a JSON list;
DELETE /received forgets it. Standard library and tests/support only (run
with PYTHONPATH=<tests>), so it runs in the offline python-base image. Test
helper, never deployed by the collection.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support.http_double import read_body, reply_json

RECORDED: list[dict] = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: object) -> None:
        reply_json(self, status, body)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        raw = read_body(self)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = {"unparsed": raw.decode(errors="replace")}
        with LOCK:
            RECORDED.append({"path": self.path, "body": body})
        self._reply(200, {"ok": True})

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/received":
            with LOCK:
                self._reply(200, list(RECORDED))
        else:
            self._reply(200, {"status": "n8n sink (test helper)"})

    def do_DELETE(self) -> None:  # noqa: N802
        with LOCK:
            RECORDED.clear()
        self._reply(200, {"ok": True})

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write("sink: " + fmt % args + "\n")


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5678
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
