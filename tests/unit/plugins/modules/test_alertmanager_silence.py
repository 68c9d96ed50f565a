"""Unit tests of vps.monitoring.alertmanager_silence against a stateful TEST DOUBLE."""

from __future__ import annotations

import datetime
import json

import pytest

from alertmanager_fake import FakeAlertmanager
from ansible_collections.vps.monitoring.plugins.module_utils import http_api
from ansible_collections.vps.monitoring.plugins.module_utils.alertmanager_api import (
    AlertmanagerClient, AlertmanagerError, matcher_key, parse_time)
from ansible_collections.vps.monitoring.plugins.modules.alertmanager_silence import run

NOW = datetime.datetime(2026, 11, 26, 4, 0, 0, tzinfo=datetime.timezone.utc)
MATCHERS = [{"name": "instance", "value": "backup:9100"},
            {"name": "alertname", "value": "Host.*", "is_regex": True}]


def params(**over):
    base = {"matchers": MATCHERS, "comment": "disk swap", "created_by": "ansible", "duration": "2h",
            "starts_at": None, "ends_at": None, "state": "present"}
    base.update(over)
    return base


@pytest.fixture
def am():
    return FakeAlertmanager(NOW)


def test_creates_then_is_idempotent(am):
    first = run(params(), am, False, NOW)
    assert first["changed"] and first["silence_id"] == "s1"
    assert first["diff"]["before"] == {}
    assert first["diff"]["after"]["endsAt"] == "2026-11-26T06:00:00Z"
    # A minute later, the same task: nothing to do, the end does not creep.
    am.now = NOW + datetime.timedelta(minutes=1)
    second = run(params(), am, False, am.now)
    assert not second["changed"], second["diff"]
    assert second["silence_id"] == "s1"
    assert am.writes == [("POST", "s1")]


def test_matcher_order_does_not_matter(am):
    run(params(), am, False, NOW)
    again = run(params(matchers=list(reversed(MATCHERS))), am, False, NOW)
    assert not again["changed"]


def test_a_new_comment_updates_the_same_silence_in_place(am):
    run(params(), am, False, NOW)
    updated = run(params(comment="disk swap, takes longer", duration="4h"), am, False, NOW)
    assert updated["changed"] and updated["silence_id"] == "s1"
    assert updated["diff"]["before"]["comment"] == "disk swap"
    assert updated["diff"]["after"]["comment"] == "disk swap, takes longer"
    assert am.silences["s1"]["comment"] == "disk swap, takes longer"
    # The duration counts from the silence's real start (Alertmanager's clock).
    stored = am.silences["s1"]
    assert parse_time(stored["endsAt"]) == parse_time(stored["startsAt"]) + datetime.timedelta(hours=4)
    assert len(am.silences) == 1


def test_other_matchers_make_another_silence(am):
    run(params(), am, False, NOW)
    other = run(params(matchers=[{"name": "instance", "value": "web:9100"}]), am, False, NOW)
    assert other["changed"] and other["silence_id"] == "s2"


def test_check_mode_reports_without_writing(am):
    planned = run(params(), am, True, NOW)
    assert planned["changed"] and planned["silence_id"] is None
    assert planned["diff"]["after"]["comment"] == "disk swap"
    assert am.writes == []


def test_absent_expires_every_live_silence_of_the_matcher_set(am):
    run(params(), am, False, NOW)
    am.post_silence({"matchers": [{"name": "instance", "value": "backup:9100", "isRegex": False, "isEqual": True},
                                  {"name": "alertname", "value": "Host.*", "isRegex": True, "isEqual": True}],
                     "comment": "a duplicate made in the UI", "createdBy": "someone",
                     "startsAt": "2026-11-26T04:00:00Z", "endsAt": "2026-11-26T05:00:00Z"})
    planned = run(params(state="absent"), am, True, NOW)
    assert planned["changed"] and sorted(planned["expired"]) == ["s1", "s2"]
    assert all(s.get("expired") is None for s in am.silences.values())
    gone = run(params(state="absent"), am, False, NOW)
    assert gone["changed"] and gone["diff"]["after"] == {}
    assert all(s["expired"] for s in am.silences.values())
    assert not run(params(state="absent"), am, False, NOW)["changed"]


def test_present_expires_duplicates_and_keeps_the_newest(am):
    run(params(), am, False, NOW)
    am.now = NOW + datetime.timedelta(minutes=5)
    am.post_silence({"matchers": [{"name": "alertname", "value": "Host.*", "isRegex": True, "isEqual": True},
                                  {"name": "instance", "value": "backup:9100", "isRegex": False, "isEqual": True}],
                     "comment": "disk swap", "createdBy": "ansible",
                     "startsAt": "2026-11-26T04:05:00Z", "endsAt": "2026-11-26T06:05:00Z"})
    result = run(params(), am, False, am.now)
    assert result["expired"] == ["s1"] and result["silence_id"] == "s2"


def test_ends_at_and_a_future_start(am):
    result = run(params(duration=None, starts_at="2026-11-26T22:00:00+01:00", ends_at="2026-11-27T02:00:00+01:00"),
                 am, False, NOW)
    stored = am.silences[result["silence_id"]]
    assert parse_time(stored["startsAt"]) == datetime.datetime(2026, 11, 26, 21, 0, tzinfo=datetime.timezone.utc)
    assert am.list_silences()[0]["status"]["state"] == "pending"
    again = run(params(duration=None, starts_at="2026-11-26T22:00:00+01:00", ends_at="2026-11-27T02:00:00+01:00"),
                am, False, NOW)
    assert not again["changed"]


def test_an_end_in_the_past_is_refused(am):
    with pytest.raises(AlertmanagerError, match="before it starts or in the past"):
        run(params(duration=None, ends_at="2026-11-26T03:00:00Z"), am, False, NOW)
    assert am.writes == []


def test_matcher_key_ignores_order_but_not_negation():
    a = [{"name": "a", "value": "1", "isRegex": False, "isEqual": True},
         {"name": "b", "value": "2", "isRegex": False, "isEqual": True}]
    assert matcher_key(a) == matcher_key(list(reversed(a)))
    assert matcher_key(a) != matcher_key([dict(a[0], isEqual=False), a[1]])


def test_errors_never_carry_credentials(monkeypatch):
    from ansible.module_utils.six.moves.urllib.error import HTTPError

    def refuse(url, **kwargs):
        assert kwargs["headers"]["Authorization"] == "Bearer am-s3cret-token"
        raise HTTPError(url, 401, "Unauthorized: Bearer am-s3cret-token", {}, None)

    monkeypatch.setattr(http_api, "open_url", refuse)
    client = AlertmanagerClient("https://user:pw-in-url@am.example.com", token="am-s3cret-token")
    with pytest.raises(AlertmanagerError) as raised:
        client.list_silences()
    assert raised.value.status == 401
    assert "am-s3cret-token" not in str(raised.value) and "pw-in-url" not in str(raised.value)
    assert "refused GET /api/v2/silences with 401" in str(raised.value)


def test_unreachable_alertmanager_is_named(monkeypatch):
    from ansible.module_utils.six.moves.urllib.error import URLError

    def down(url, **kwargs):
        raise URLError("connection refused")

    monkeypatch.setattr(http_api, "open_url", down)
    with pytest.raises(AlertmanagerError, match="did not answer GET /api/v2/silences"):
        AlertmanagerClient("http://127.0.0.1:1", url_username="u", url_password="pw").list_silences()


def test_parse_time_forms():
    assert parse_time("2026-11-26T04:00:00.123456789Z") == NOW
    assert parse_time("2026-11-26T05:00:00+01:00") == NOW
    with pytest.raises(ValueError):
        parse_time("tomorrow")
    json.dumps(run(params(), FakeAlertmanager(NOW), True, NOW))  # results are JSON-serialisable
