# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grafana API TEST DOUBLE: a stateful, in-memory stand-in for Grafana's HTTP API.

This is a test double, never a component of the stack. It exists because no
Grafana image can be obtained on the project's machines; it answers the calls
the vps.monitoring grafana_* modules and the grafana role make, with the
statuses and shapes Grafana 10.x-12.x's HTTP API documents: dashboards by
uid with versions, 404/409/412, the provisioned flag, folder moves,
folders, datasources (readOnly -> 403), search, health
(with a "still starting" period), service accounts and tokens, auth (Bearer
or basic, 401 otherwise), and a call counter for benchmarks.

Run standalone (stdlib only, Python 3.9+):
    python3 server.py --port 3000 --admin-password S3cret [--token T]
            [--starting-seconds 5 --starting-mode 503|refuse] [--conflict-status 409]
"""

from __future__ import annotations

import argparse
import base64
import collections
import copy
import itertools
import json
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

VERSION = "12.0.0-test-double"


class DoubleState:
    """Everything the double stores; guarded by one lock."""

    def __init__(self, admin_password="admin", tokens=(), conflict_status=409):
        self.lock = threading.RLock()
        self.admin_password = admin_password
        self.tokens = set(tokens)
        self.conflict_status = conflict_status  # 409 (Grafana 12) or 412 (<= 11)
        self.ids = itertools.count(1)
        self.dashboards = {}   # uid -> {"dashboard", "folderUid", "provisioned", ...}
        self.folders = {}      # uid -> {"id", "uid", "title", "version"}
        self.datasources = {}  # uid -> datasource dict
        self.service_accounts = {}  # id -> {"id", "name", "role", "tokens": [...]}
        self.calls = collections.Counter()
        self.starting_until = 0.0
        self.starting_mode = "503"

    # Seeding helpers for tests (what a provisioning file would have created).
    def seed_dashboard(self, dashboard, folder_uid="", provisioned=False):
        with self.lock:
            dash = copy.deepcopy(dashboard)
            dash["id"] = next(self.ids)
            dash["version"] = 1
            self.dashboards[dash["uid"]] = {"dashboard": dash, "folderUid": folder_uid,
                                            "provisioned": provisioned}
            return dash

    def seed_datasource(self, datasource, read_only=False):
        with self.lock:
            ds = dict(datasource, id=next(self.ids), orgId=1, version=1, readOnly=read_only)
            self.datasources[ds["uid"]] = ds
            return ds

    def total_calls(self):
        return sum(self.calls.values())


class Reply(Exception):
    def __init__(self, status, body):
        super().__init__(status)
        self.status = status
        self.body = body


def _fail(code, message, **extra):
    raise Reply(code, dict(message=message, **extra))


def _slug(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class Handler(BaseHTTPRequestHandler):
    server_version = "GrafanaTestDouble/" + VERSION
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output readable
        if getattr(self.server, "verbose", False):
            sys.stderr.write("grafana-double: " + (fmt % args) + "\n")

    @property
    def state(self) -> DoubleState:
        return self.server.state

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # -- plumbing --------------------------------------------------------------
    def _dispatch(self, method):
        parts = urlsplit(self.path)
        path, query = parts.path.rstrip("/") or "/", parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, body = 200, None
        try:
            self.state.calls[method + " " + _template(path)] += 1
            if time.monotonic() < self.state.starting_until:
                _fail(503, "Grafana is starting")
            if path == "/api/health":
                body = {"database": "ok", "version": VERSION, "commit": "test-double"}
            else:
                self._authenticate()
                try:
                    data = json.loads(raw) if raw else None
                except ValueError:
                    _fail(400, "bad request data")
                with self.state.lock:
                    status, body = self._route(method, path, query, data)
        except Reply as reply:
            status, body = reply.status, reply.body
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authenticate(self):
        header = self.headers.get("Authorization") or ""
        scheme, _sep, value = header.partition(" ")
        if scheme.lower() == "bearer" and value in self.state.tokens:
            return
        if scheme.lower() == "basic":
            try:
                user, _sep, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                user, password = "", ""
            if user == "admin" and password == self.state.admin_password:
                return
        _fail(401, "Unauthorized")

    def _route(self, method, path, query, data):
        for pattern, name in ROUTES:
            match = re.fullmatch(pattern, path)
            if match and hasattr(self, "%s_%s" % (method.lower(), name)):
                handler = getattr(self, "%s_%s" % (method.lower(), name))
                return handler(*match.groups(), query=query, data=data)
        _fail(404, "Not found")

    # -- dashboards ------------------------------------------------------------
    def post_dashboards_db(self, query, data):
        data = data or {}
        dash = copy.deepcopy(data.get("dashboard") or {})
        if not dash.get("title"):
            _fail(400, "Dashboard title cannot be empty", status="empty-name")
        uid = dash.get("uid") or secrets.token_hex(7)
        if len(uid) > 40:
            _fail(400, "uid too long, max 40 characters", status="bad-uid")
        folder_uid = data.get("folderUid") or ""
        if folder_uid and folder_uid not in self.state.folders:
            _fail(400, "folder not found", status="folder-not-found")
        existing = self.state.dashboards.get(uid)
        if existing:
            if existing["provisioned"]:
                _fail(400, "Cannot save provisioned dashboard", status="provisioned")
            stored_version = existing["dashboard"]["version"]
            if not data.get("overwrite") and dash.get("version") != stored_version:
                _fail(self.state.conflict_status,
                      "The dashboard has been changed by someone else", status="version-mismatch")
            dash["id"] = existing["dashboard"]["id"]
            dash["version"] = stored_version + 1
        else:
            dash["id"] = next(self.state.ids)
            dash["version"] = 1
        dash["uid"] = uid
        self.state.dashboards[uid] = {"dashboard": dash, "folderUid": folder_uid,
                                      "provisioned": False}
        return 200, {"id": dash["id"], "uid": uid, "url": "/d/%s/%s" % (uid, _slug(dash["title"])),
                     "status": "success", "version": dash["version"], "slug": _slug(dash["title"]),
                     "folderUid": folder_uid}

    def get_dashboard_uid(self, uid, query, data):
        entry = self.state.dashboards.get(uid) or _fail(404, "Dashboard not found")
        folder = self.state.folders.get(entry["folderUid"]) or {}
        dash = entry["dashboard"]
        return 200, {"dashboard": copy.deepcopy(dash), "meta": {
            "type": "db", "canSave": True, "canEdit": True, "slug": _slug(dash["title"]),
            "url": "/d/%s/%s" % (uid, _slug(dash["title"])), "version": dash["version"],
            "folderUid": entry["folderUid"], "folderTitle": folder.get("title", "Dashboards"),
            "folderId": folder.get("id", 0), "provisioned": entry["provisioned"],
            "provisionedExternalId": "dashboard.json" if entry["provisioned"] else "",
            "created": "2025-01-01T00:00:00Z", "updated": "2025-01-01T00:00:00Z"}}

    def delete_dashboard_uid(self, uid, query, data):
        entry = self.state.dashboards.get(uid) or _fail(404, "Dashboard not found")
        if entry["provisioned"]:
            _fail(400, "provisioned dashboard cannot be deleted")
        del self.state.dashboards[uid]
        return 200, {"title": entry["dashboard"]["title"], "id": entry["dashboard"]["id"],
                     "message": "Dashboard %s deleted" % entry["dashboard"]["title"]}

    def get_search(self, query, data):
        kind = (query.get("type") or [""])[0]
        text = (query.get("query") or [""])[0].lower()
        uids = set(query.get("dashboardUIDs") or [])
        folders = set(query.get("folderUIDs") or [])
        limit = min(int((query.get("limit") or ["1000"])[0]), 5000)
        page = max(int((query.get("page") or ["1"])[0]), 1)
        hits = []
        if kind in ("", "dash-folder") and not uids:
            for f in self.state.folders.values():
                if text in f["title"].lower():
                    hits.append({"id": f["id"], "uid": f["uid"], "title": f["title"],
                                 "type": "dash-folder", "url": "/dashboards/f/%s" % f["uid"]})
        if kind in ("", "dash-db"):
            for uid, entry in sorted(self.state.dashboards.items()):
                dash = entry["dashboard"]
                if uids and uid not in uids:
                    continue
                if folders and entry["folderUid"] not in folders:
                    continue
                if text and text not in dash["title"].lower():
                    continue
                hits.append({"id": dash["id"], "uid": uid, "title": dash["title"],
                             "type": "dash-db", "tags": dash.get("tags", []),
                             "url": "/d/%s/%s" % (uid, _slug(dash["title"])),
                             "folderUid": entry["folderUid"]})
        return 200, hits[(page - 1) * limit: page * limit]

    # -- folders ---------------------------------------------------------------
    def get_folders(self, query, data):
        return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]}
                     for f in self.state.folders.values()]

    def post_folders(self, query, data):
        data = data or {}
        uid = data.get("uid") or secrets.token_hex(7)
        if not data.get("title"):
            _fail(400, "folder title cannot be empty")
        if uid in self.state.folders:
            _fail(409, "a folder with the same uid already exists")
        folder = {"id": next(self.state.ids), "uid": uid, "title": data["title"], "version": 1,
                  "parentUid": data.get("parentUid", "")}
        self.state.folders[uid] = folder
        return 200, dict(folder, url="/dashboards/f/%s" % uid)

    def get_folder(self, uid, query, data):
        folder = self.state.folders.get(uid) or _fail(404, "folder not found")
        return 200, dict(folder, url="/dashboards/f/%s" % uid)

    def put_folder(self, uid, query, data):
        folder = self.state.folders.get(uid) or _fail(404, "folder not found")
        data = data or {}
        if not data.get("overwrite") and data.get("version") != folder["version"]:
            _fail(self.state.conflict_status, "the folder has been changed by someone else")
        folder.update(title=data.get("title", folder["title"]), version=folder["version"] + 1)
        return 200, dict(folder, url="/dashboards/f/%s" % uid)

    def delete_folder(self, uid, query, data):
        folder = self.state.folders.pop(uid, None) or _fail(404, "folder not found")
        for duid in [u for u, e in self.state.dashboards.items() if e["folderUid"] == uid]:
            del self.state.dashboards[duid]
        return 200, {"message": "Folder %s deleted" % folder["title"], "id": folder["id"],
                     "title": folder["title"]}

    # -- datasources -----------------------------------------------------------
    def get_datasources(self, query, data):
        return 200, list(self.state.datasources.values())

    def post_datasources(self, query, data):
        data = dict(data or {})
        data.pop("secureJsonData", None)  # stored write-only in Grafana; never returned
        if any(d["name"] == data.get("name") for d in self.state.datasources.values()):
            _fail(409, "data source with the same name already exists")
        uid = data.get("uid") or secrets.token_hex(7)
        if uid in self.state.datasources:
            _fail(409, "data source with the same uid already exists")
        ds = dict(data, uid=uid, id=next(self.state.ids), orgId=1, version=1, readOnly=False)
        self.state.datasources[uid] = ds
        return 200, {"id": ds["id"], "name": ds["name"], "message": "Datasource added",
                     "datasource": ds}

    def get_datasource_uid(self, uid, query, data):
        return 200, self.state.datasources.get(uid) or _fail(404, "Data source not found")

    def put_datasource_uid(self, uid, query, data):
        ds = self.state.datasources.get(uid) or _fail(404, "Data source not found")
        if ds["readOnly"]:
            _fail(403, "Cannot update read-only data source")
        data = dict(data or {})
        data.pop("secureJsonData", None)
        if any(d["name"] == data.get("name") and u != uid
               for u, d in self.state.datasources.items()):
            _fail(409, "data source with the same name already exists")
        ds.update(data, uid=uid, version=ds["version"] + 1)
        return 200, {"id": ds["id"], "name": ds["name"], "message": "Datasource updated",
                     "datasource": ds}

    def delete_datasource_uid(self, uid, query, data):
        ds = self.state.datasources.get(uid) or _fail(404, "Data source not found")
        if ds["readOnly"]:
            _fail(403, "Cannot delete read-only data source")
        del self.state.datasources[uid]
        return 200, {"message": "Data source deleted", "id": ds["id"]}

    # -- service accounts --------------------------------------------------------
    def get_serviceaccounts_search(self, query, data):
        text = (query.get("query") or [""])[0].lower()
        found = [{k: v for k, v in sa.items() if k != "tokens"} | {"tokens": len(sa["tokens"])}
                 for sa in self.state.service_accounts.values() if text in sa["name"].lower()]
        return 200, {"totalCount": len(found), "serviceAccounts": found, "page": 1, "perPage": 1000}

    def post_serviceaccounts(self, query, data):
        data = data or {}
        if any(sa["name"] == data.get("name") for sa in self.state.service_accounts.values()):
            _fail(400, "service account already exists")
        sa_id = next(self.state.ids)
        self.state.service_accounts[sa_id] = {
            "id": sa_id, "name": data.get("name"), "login": "sa-" + _slug(data.get("name", "")),
            "role": data.get("role", "Viewer"), "isDisabled": False, "tokens": []}
        return 201, {k: v for k, v in self.state.service_accounts[sa_id].items() if k != "tokens"}

    def get_serviceaccount_tokens(self, sa_id, query, data):
        sa = self.state.service_accounts.get(int(sa_id)) or _fail(404, "service account not found")
        return 200, [{"id": t["id"], "name": t["name"]} for t in sa["tokens"]]

    def post_serviceaccount_tokens(self, sa_id, query, data):
        sa = self.state.service_accounts.get(int(sa_id)) or _fail(404, "service account not found")
        name = (data or {}).get("name") or _fail(400, "token name required")
        if any(t["name"] == name for t in sa["tokens"]):
            _fail(409, "service account token with given name already exists")
        key = "glsa_" + secrets.token_hex(16)
        sa["tokens"].append({"id": next(self.state.ids), "name": name})
        self.state.tokens.add(key)
        return 200, {"id": sa["tokens"][-1]["id"], "name": name, "key": key}


ROUTES = (
    (r"/api/dashboards/db", "dashboards_db"),
    (r"/api/dashboards/uid/([^/]+)", "dashboard_uid"),
    (r"/api/search", "search"),
    (r"/api/folders", "folders"),
    (r"/api/folders/([^/]+)", "folder"),
    (r"/api/datasources", "datasources"),
    (r"/api/datasources/uid/([^/]+)", "datasource_uid"),
    (r"/api/serviceaccounts/search", "serviceaccounts_search"),
    (r"/api/serviceaccounts", "serviceaccounts"),
    (r"/api/serviceaccounts/(\d+)/tokens", "serviceaccount_tokens"),
)


def _template(path):
    for pattern, _name in ROUTES:
        if re.fullmatch(pattern, path):
            return pattern
    return path


class GrafanaDouble:
    """Start/stop the double in a background thread (tests, benchmarks)."""

    def __init__(self, host="127.0.0.1", port=0, admin_password="admin", tokens=(),
                 conflict_status=409, starting_seconds=0.0, starting_mode="503"):
        self.state = DoubleState(admin_password, tokens, conflict_status)
        self.host, self.port = host, port
        self.starting_seconds, self.starting_mode = starting_seconds, starting_mode
        self.httpd = None
        self._thread = None

    @property
    def url(self):
        return "http://%s:%s" % (self.host, self.port)

    def start(self):
        if self.starting_mode == "refuse" and self.starting_seconds:
            # Like a Grafana whose port is not open yet: connections are refused,
            # then the server binds. The port must be fixed for this to mean anything.
            if not self.port:
                raise ValueError("starting_mode=refuse needs a fixed port")
            timer = threading.Timer(self.starting_seconds, self._serve)
            timer.daemon = True
            timer.start()
            self._thread = timer
            return self
        if self.starting_seconds:
            self.state.starting_until = time.monotonic() + self.starting_seconds
        self._serve()
        return self

    def _serve(self):
        self.httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self.state
        self.port = self.httpd.server_address[1]
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()

    def stop(self):
        if isinstance(self._thread, threading.Timer):
            self._thread.cancel()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Grafana API TEST DOUBLE (not Grafana)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--admin-password", default="admin")
    parser.add_argument("--token", action="append", default=[])
    parser.add_argument("--conflict-status", type=int, choices=(409, 412), default=409)
    parser.add_argument("--starting-seconds", type=float, default=0.0)
    parser.add_argument("--starting-mode", choices=("503", "refuse"), default="503")
    args = parser.parse_args(argv)
    double = GrafanaDouble(args.host, args.port, args.admin_password, args.token,
                           args.conflict_status, args.starting_seconds, args.starting_mode)
    print("Grafana API TEST DOUBLE listening on %s:%s (not Grafana)" % (args.host, args.port),
          flush=True)
    double.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":
    main()
