# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""GrafanaClient, normalisation and redaction, against the in-process Grafana API TEST DOUBLE."""

from __future__ import annotations

import pytest

from ansible_collections.vps.monitoring.plugins.module_utils.grafana_api import (
    GrafanaClient, GrafanaError, normalise_dashboard, normalise_datasource, redact, unwrap_dashboard)
from grafana_double import GrafanaDouble

TOKEN = "glsa_unit_secret_abcdef"


@pytest.fixture
def double():
    server = GrafanaDouble(admin_password="pw-unit-1", tokens=[TOKEN]).start()
    yield server
    server.stop()


@pytest.mark.parametrize("text", [
    "Authorization: Bearer glsa_abc123", "authorization=Basic YWRtaW46cHc=",
    'body {"password": "hunter2"}', "token=abc123", "http://admin:hunter2@host:3000/x",
    "key glsa_abcdef_123"])
def test_redact_removes_credential_shapes(text):
    out = redact(text)
    for secret in ("glsa_abc123", "YWRtaW46cHc=", "hunter2", "abc123", "glsa_abcdef_123"):
        assert secret not in out


def test_redact_removes_known_secret_values():
    assert "s3cr3t" not in redact("echoed s3cr3t back", ["s3cr3t"])


def test_normalise_drops_server_fields_only():
    stored = {"id": 7, "uid": "u", "title": "T", "version": 4, "iteration": 1, "panels": [1],
              "meta": {"x": 1}, "description": None}
    assert normalise_dashboard(stored) == {"uid": "u", "title": "T", "panels": [1]}


def test_unwrap_accepts_export_wrapper_and_json():
    assert unwrap_dashboard({"dashboard": {"uid": "a"}, "meta": {}}) == {"uid": "a"}
    assert unwrap_dashboard('{"uid": "b"}') == {"uid": "b"}
    with pytest.raises(GrafanaError):
        unwrap_dashboard("[1]")


def test_normalise_datasource_ignores_server_state():
    server = {"id": 3, "orgId": 1, "version": 9, "readOnly": False, "uid": "p", "name": "P",
              "type": "prometheus", "access": "proxy", "url": "http://p:9090", "isDefault": True,
              "basicAuth": False, "basicAuthUser": "", "jsonData": {"a": 1}, "typeLogoUrl": "x"}
    mine = {"uid": "p", "name": "P", "type": "prometheus", "access": "proxy", "url": "http://p:9090",
            "isDefault": True, "jsonData": {"a": 1}}
    assert normalise_datasource(server) == normalise_datasource(mine)


def test_client_requires_credentials_and_http_url():
    with pytest.raises(GrafanaError, match="no credentials"):
        GrafanaClient("http://127.0.0.1:1")
    with pytest.raises(GrafanaError, match="not an http"):
        GrafanaClient("ftp://x", token="t")


def test_client_token_and_basic_auth(double):
    assert GrafanaClient(double.url, token=TOKEN).request("GET", "/api/search")[0] == 200
    client = GrafanaClient(double.url, url_username="admin", url_password="pw-unit-1")
    assert client.request("GET", "/api/search")[0] == 200


@pytest.mark.parametrize("status,words", [
    (401, ["401", "wrong or expired"]), (404, ["404", "GET /api/folders/nope"])])
def test_client_errors_are_clear_and_redacted(double, status, words):
    token = TOKEN if status != 401 else "glsa_wrong_value_xyz"
    client = GrafanaClient(double.url, token=token, wait_timeout=0)
    with pytest.raises(GrafanaError) as err:
        client.request("GET", "/api/folders/nope")
    assert err.value.status == status
    for word in words:
        assert word in str(err.value)
    assert token not in str(err.value)


def test_client_5xx_after_deadline(double):
    double.state.starting_until = float("inf")  # never finishes starting
    client = GrafanaClient(double.url, token=TOKEN, wait_timeout=0)
    with pytest.raises(GrafanaError, match=r"server error \(503\)"):
        client.request("GET", "/api/search")


def test_client_retries_until_grafana_answers(double):
    # A fake clock and sleep: the double "finishes starting" after 3 sleeps.
    now = [0.0]
    sleeps = []

    def fake_sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds
        if len(sleeps) == 3:
            double.state.starting_until = 0

    double.state.starting_until = float("inf")
    client = GrafanaClient(double.url, token=TOKEN, wait_timeout=10, sleep=fake_sleep,
                           clock=lambda: now[0])
    assert client.request("GET", "/api/search")[0] == 200
    assert len(sleeps) == 3 and client.calls == 4


def test_client_connection_refused_names_url_not_secret():
    client = GrafanaClient("http://user:pw-in-url@127.0.0.1:9", token=TOKEN, wait_timeout=0)
    with pytest.raises(GrafanaError) as err:
        client.request("GET", "/api/health")
    assert "did not answer" in str(err.value)
    assert "pw-in-url" not in str(err.value) and TOKEN not in str(err.value)
