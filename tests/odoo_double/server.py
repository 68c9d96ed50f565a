"""TEST DOUBLE of Odoo's XML-RPC API for project.task. Never shipped.

What n8n's session-end workflow calls, as Odoo answers it:
  /xmlrpc/2/common  version(), authenticate(db, login, password, user_agent_env) -> uid | False
  /xmlrpc/2/object  execute_kw(db, uid, password, model, method, args, kwargs)
                    for model project.task and methods search, read, write.
Stateful: tasks live in memory, every write is kept with its time
(time.time()) so a test can read back what was written and when. Unknown
fields and bad credentials fail as Odoo does, with an XML-RPC Fault.
GET /_double/state answers the tasks and writes as JSON.
Standard library only.
"""

from __future__ import annotations

import threading
import time
from http import HTTPStatus
from xmlrpc.server import MultiPathXMLRPCServer, SimpleXMLRPCDispatcher, SimpleXMLRPCRequestHandler
from xmlrpc.client import Fault

from support.http_double import BackgroundServer, reply_json

TASK_FIELDS = {"id", "name", "project_id", "x_claude_time_total", "x_claude_cost_total",
               "x_claude_tokens_total", "x_claude_tokens_input", "x_claude_tokens_output",
               "x_claude_tokens_cache_read", "x_claude_tokens_cache_creation",
               "x_claude_lines_added", "x_claude_lines_removed", "x_claude_last_session", "x_claude_sessions"}


class OdooDouble(BackgroundServer):
    """In-memory Odoo: one database, one user, project.task records."""

    def __init__(self, db: str = "odoo", login: str = "n8n@example.invalid", password: str = "api-key"):
        self.db, self.login, self.password, self.uid = db, login, password, 7
        self.tasks: dict[int, dict] = {}
        self.writes: list[dict] = []
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def add_task(self, name: str, **fields) -> int:
        with self.lock:
            task_id = max(self.tasks, default=40) + 1
            self.tasks[task_id] = {"id": task_id, "name": name, "project_id": [1, "Claude work"],
                                   **{f: False for f in TASK_FIELDS - {"id", "name", "project_id"}}, **fields}
            return task_id

    # --- /xmlrpc/2/common
    def version(self):
        return {"server_version": "17.0-double", "server_serie": "17.0", "protocol_version": 1}

    def authenticate(self, db, login, password, _user_agent_env):
        self.calls.append(("common", "authenticate"))
        return self.uid if (db, login, password) == (self.db, self.login, self.password) else False

    # --- /xmlrpc/2/object
    def execute_kw(self, db, uid, password, model, method, args, kwargs=None):
        self.calls.append((model, method))
        if (db, uid, password) != (self.db, self.uid, self.password):
            raise Fault(3, "Access Denied")
        if model != "project.task":
            raise Fault(2, f"Object {model} doesn't exist")
        kwargs = kwargs or {}
        with self.lock:
            if method == "search":
                return self._search(args[0], kwargs.get("limit"))
            if method == "read":
                return self._read(args[0], kwargs.get("fields") or (args[1] if len(args) > 1 else None))
            if method == "write":
                return self._write(args[0], args[1])
        raise Fault(2, f"The method {method} of project.task is not supported by the double")

    def _search(self, domain, limit):
        found = []
        for task in sorted(self.tasks.values(), key=lambda t: t["id"]):
            if all(self._match(task, term) for term in domain):
                found.append(task["id"])
        return found[:limit] if limit else found

    @staticmethod
    def _match(task, term):
        field, op, value = term
        if field not in TASK_FIELDS:
            raise Fault(2, f"Invalid field project.task.{field} in leaf {tuple(term)}")
        have = task.get(field)
        if op == "=":
            return have == value
        if op == "in":
            return have in value
        if op == "ilike":
            return str(value).lower() in str(have).lower()
        raise Fault(2, f"Invalid operator {op!r} (double)")

    def _read(self, ids, fields):
        for field in fields or []:
            if field not in TASK_FIELDS:
                raise Fault(2, f"Invalid field '{field}' on model 'project.task'")
        return [{k: v for k, v in self.tasks[i].items() if not fields or k in fields or k == "id"}
                for i in ids if i in self.tasks]

    def _write(self, ids, values):
        bad = [f for f in values if f not in TASK_FIELDS or f == "id"]
        if bad:
            raise Fault(2, f"Invalid field {bad[0]!r} on model 'project.task'")
        missing = [i for i in ids if i not in self.tasks]
        if missing:
            raise Fault(2, f"Record does not exist or has been deleted. (Records: {missing})")
        for i in ids:
            self.tasks[i].update(values)
        self.writes.append({"at": time.time(), "ids": list(ids), "values": dict(values)})
        return True

    # --- serving
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        double = self

        class Handler(SimpleXMLRPCRequestHandler):
            rpc_paths = ("/xmlrpc/2/common", "/xmlrpc/2/object")

            def log_message(self, *args):  # quiet in test output
                pass

            def do_GET(self):  # noqa: N802 - http.server naming
                if self.path != "/_double/state":
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                with double.lock:
                    reply_json(self, 200, {"tasks": double.tasks, "writes": double.writes})

        server = MultiPathXMLRPCServer((host, port), requestHandler=Handler, logRequests=False,
                                       allow_none=True)
        common = SimpleXMLRPCDispatcher(allow_none=True)
        common.register_function(self.version, "version")
        common.register_function(self.authenticate, "authenticate")
        obj = SimpleXMLRPCDispatcher(allow_none=True)
        obj.register_function(self.execute_kw, "execute_kw")
        server.add_dispatcher("/xmlrpc/2/common", common)
        server.add_dispatcher("/xmlrpc/2/object", obj)
        return self.serve(server, host)


if __name__ == "__main__":
    import sys

    double = OdooDouble()
    double.add_task(sys.argv[2] if len(sys.argv) > 2 else "feature/demo")
    print(double.start(port=int(sys.argv[1]) if len(sys.argv) > 1 else 8069), flush=True)
    threading.Event().wait()
