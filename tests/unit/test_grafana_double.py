# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Grafana API TEST DOUBLE itself behaves as Grafana's HTTP API documentation describes."""

from __future__ import annotations

import pytest

from ansible_collections.vps.monitoring.plugins.module_utils.grafana_api import GrafanaClient
from grafana_double import GrafanaDouble


@pytest.fixture
def api():
    server = GrafanaDouble(admin_password="pw-double-1").start()
    client = GrafanaClient(server.url, url_username="admin", url_password="pw-double-1", wait_timeout=0)
    yield server, client
    server.stop()


def test_health_needs_no_auth_and_everything_else_does(api):
    server, _client = api
    anon = GrafanaClient(server.url, token="nope", wait_timeout=0)
    assert anon.request("GET", "/api/health")[1]["database"] == "ok"
    assert anon.request("GET", "/api/search", allow=(401,))[0] == 401


def test_dashboard_versions_conflicts_and_folder_moves(api):
    server, c = api
    c.request("POST", "/api/folders", {"uid": "f", "title": "F"})
    assert c.request("POST", "/api/folders", {"uid": "f", "title": "F"}, allow=(409,))[0] == 409
    r = c.request("POST", "/api/dashboards/db", {"dashboard": {"uid": "d", "title": "D"}, "folderUid": "f"})[1]
    assert r["version"] == 1 and r["folderUid"] == "f"
    stale = {"dashboard": {"uid": "d", "title": "D", "version": 0}, "folderUid": "f"}
    assert c.request("POST", "/api/dashboards/db", stale, allow=(409,))[0] == 409
    server.state.conflict_status = 412
    assert c.request("POST", "/api/dashboards/db", stale, allow=(412,))[0] == 412
    # An update without a folder moves the dashboard to the root.
    r = c.request("POST", "/api/dashboards/db", {"dashboard": {"uid": "d", "title": "D"}, "overwrite": True})[1]
    assert r["version"] == 2 and c.request("GET", "/api/dashboards/uid/d")[1]["meta"]["folderUid"] == ""
    assert c.request("GET", "/api/search", query={"type": "dash-db"})[1][0]["uid"] == "d"
    assert c.request("DELETE", "/api/dashboards/uid/d")[0] == 200
    assert c.request("GET", "/api/dashboards/uid/d", allow=(404,))[0] == 404


def test_service_account_token_authenticates(api):
    server, c = api
    sa = c.request("POST", "/api/serviceaccounts", {"name": "bot", "role": "Admin"})[1]
    key = c.request("POST", "/api/serviceaccounts/%d/tokens" % sa["id"], {"name": "t1"})[1]["key"]
    assert GrafanaClient(server.url, token=key).request("GET", "/api/search")[0] == 200
    found = c.request("GET", "/api/serviceaccounts/search", query={"query": "bot"})[1]
    assert found["serviceAccounts"][0]["id"] == sa["id"]


def test_read_only_datasource_answers_403(api):
    server, c = api
    server.state.seed_datasource({"uid": "ro", "name": "RO", "type": "prometheus"}, read_only=True)
    assert c.request("PUT", "/api/datasources/uid/ro", {"name": "RO"}, allow=(403,))[0] == 403
    assert c.request("DELETE", "/api/datasources/uid/ro", allow=(403,))[0] == 403
