"""TEST DOUBLE: an in-memory stand-in for the silence part of Alertmanager's API v2.

Stateful like the real one: a new silence gets an id and a start no earlier
than "now" (Alertmanager's own clock, a little after the caller's), an
update with an id changes that silence in place, DELETE expires it. Used by
the unit tests only; the integration test runs the real Alertmanager.
"""

from __future__ import annotations

import datetime
import itertools

from ansible_collections.vps.monitoring.plugins.module_utils.alertmanager_api import (
    AlertmanagerError, format_time, parse_time)


class FakeAlertmanager:
    def __init__(self, now: datetime.datetime, clock_lag: float = 1.3):
        self.now = now
        self.clock_lag = clock_lag
        self.silences: dict[str, dict] = {}
        self.writes: list[tuple[str, str]] = []
        self._ids = (f"s{n}" for n in itertools.count(1))

    def _state(self, silence):
        if silence.get("expired"):
            return "expired"
        return "pending" if parse_time(silence["startsAt"]) > self.now else "active"

    def list_silences(self):
        return [dict(s, status={"state": self._state(s)}) for s in self.silences.values()]

    def post_silence(self, body):
        stored = {k: body[k] for k in ("matchers", "comment", "createdBy", "startsAt", "endsAt")}
        own_now = self.now + datetime.timedelta(seconds=self.clock_lag)
        if parse_time(stored["startsAt"]) < own_now:
            stored["startsAt"] = own_now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if "id" in body:
            if body["id"] not in self.silences or self._state(self.silences[body["id"]]) == "expired":
                raise AlertmanagerError("silence %s not found" % body["id"], status=404)
            old = self.silences[body["id"]]
            if self._state(old) == "active":
                stored["startsAt"] = old["startsAt"]
            stored["id"] = body["id"]
        else:
            stored["id"] = next(self._ids)
        stored["updatedAt"] = format_time(self.now)
        self.silences[stored["id"]] = stored
        self.writes.append(("POST", stored["id"]))
        return stored["id"]

    def expire_silence(self, silence_id):
        self.silences[silence_id]["expired"] = True
        self.writes.append(("DELETE", silence_id))
