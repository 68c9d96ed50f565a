"""vps.monitoring.alertmanager_silence through real ansible-playbook against a real Alertmanager.

Creates a silence, re-runs (no change), previews a change in check mode
(nothing written), updates it in place, sees it mute a firing alert, and
expires it - checking Alertmanager's own API after every step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import requests

from am_helpers import render, running_alertmanager
from conftest import ROOT

PLAYBOOK = ROOT / "tests" / "integration" / "silence.yml"


@pytest.fixture(scope="module")
def am(docker_client, images, tmp_path_factory):
    config = render(tmp_path_factory.mktemp("am-silence"), {})
    with running_alertmanager(docker_client, images["alertmanager_image"], config,
                              "vpsmon-it-am-silence") as url:
        yield url


def play(am_url: str, *args: str, **extra) -> tuple[dict, str]:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(PLAYBOOK), *args,
         "-e", json.dumps(dict(am_url=am_url, **extra)), "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    found = re.search(r'"msg": "RESULT=(.*)"\n', result.stdout)
    assert found, result.stdout[-2000:]
    return json.loads(json.loads('"' + found.group(1) + '"')), result.stdout


def live(am_url: str) -> list[dict]:
    return [s for s in requests.get(am_url + "/api/v2/silences", timeout=5).json()
            if s["status"]["state"] in ("active", "pending")]


def test_silence_lifecycle(am):
    created, _unused = play(am, silence_comment="disk swap OPS-42", silence_duration="2h")
    assert created["changed"]
    [silence] = live(am)
    assert silence["id"] == created["silence_id"]
    assert silence["comment"] == "disk swap OPS-42" and silence["createdBy"] == "ansible"
    assert {(m["name"], m["value"], m["isRegex"]) for m in silence["matchers"]} == {
        ("instance", "backup:9100", False), ("alertname", "Host.*", True)}

    again, _unused = play(am, silence_comment="disk swap OPS-42", silence_duration="2h")
    assert not again["changed"]
    assert again["silence_id"] == created["silence_id"]

    preview, output = play(am, "--check", "--diff", silence_comment="disk swap OPS-42, longer",
                           silence_duration="3h")
    assert preview["changed"]
    assert "disk swap OPS-42, longer" in output  # the diff shows the new comment
    assert [s["comment"] for s in live(am)] == ["disk swap OPS-42"]

    # The silence really mutes a matching alert.
    requests.post(am + "/api/v2/alerts", timeout=5, json=[
        {"labels": {"alertname": "HostHighCpuUsage", "instance": "backup:9100", "severity": "warning"}}
    ]).raise_for_status()
    alerts = requests.get(am + "/api/v2/alerts", timeout=5).json()
    assert alerts[0]["status"]["silencedBy"] == [created["silence_id"]]

    updated, _unused = play(am, silence_comment="disk swap OPS-42, longer", silence_duration="3h")
    assert updated["changed"]
    [silence] = live(am)
    assert silence["comment"] == "disk swap OPS-42, longer"
    # Updated in place: same id, so links to it stay valid.
    assert silence["id"] == updated["silence_id"] == created["silence_id"]

    gone, _unused = play(am, silence_state="absent")
    assert gone["changed"] and gone["expired"] == [silence["id"]]
    assert live(am) == []
    assert not play(am, silence_state="absent")[0]["changed"]
