"""TEST DOUBLE of the Telegram Bot API: records what n8n sends. Never shipped.

Answers POST /bot<token>/<method> (sendMessage and friends) the way the Bot
API does ({"ok": true, "result": {message}}), so n8n's Telegram node
accepts it; a wrong token gets Telegram's 401 answer. Every call is recorded
with its arrival time (time.time()), the method and the JSON body; the token
itself is kept only as "token_ok". GET /_recorder/messages lists them,
DELETE /_recorder/messages forgets them. Standard library only.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from support.http_double import BackgroundServer, read_body, reply_json


class TelegramRecorder(BackgroundServer):
    def __init__(self, token: str = "123456:TEST-DOUBLE-TOKEN"):
        self.token = token
        self.messages: list[dict] = []
        self.lock = threading.Lock()

    def received(self, method: str = "sendMessage") -> list[dict]:
        with self.lock:
            return [m for m in self.messages if m["method"] == method]

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: object) -> None:
                reply_json(self, status, body)

            def do_POST(self):  # noqa: N802 - http.server naming
                at = time.time()
                raw = read_body(self)
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) != 2 or not parts[0].startswith("bot"):
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                token, method = parts[0][3:], parts[1]
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw or b"{}")
                else:
                    body = dict(parse_qsl(raw.decode()))
                with recorder.lock:
                    recorder.messages.append({"at": at, "method": method, "body": body,
                                              "token_ok": token == recorder.token})
                    message_id = len(recorder.messages)
                if token != recorder.token:
                    self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return
                self._reply(200, {"ok": True, "result": {
                    "message_id": message_id, "date": int(at), "text": body.get("text", ""),
                    "chat": {"id": body.get("chat_id"), "type": "private"}}})

            def do_GET(self):  # noqa: N802
                if self.path == "/_recorder/messages":
                    with recorder.lock:
                        self._reply(200, list(recorder.messages))
                else:
                    self._reply(404, {"ok": False})

            def do_DELETE(self):  # noqa: N802
                recorder.clear()
                self._reply(200, {"ok": True})

        return self.serve(ThreadingHTTPServer((host, port), Handler), host)
