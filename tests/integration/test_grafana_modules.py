# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The grafana_* modules run for real (ansible-playbook) against the Grafana API TEST DOUBLE.

Each scenario is one playbook (one ansible-playbook start keeps the suite
fast) whose tasks are steps; the json callback gives every step's result,
and the double's state and call counter show what really reached the API.
Credentials travel in an extra-vars file, never in task text, and every
run checks they appear nowhere in the output.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grafana_double import GrafanaDouble

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOKEN = "glsa_integration_secret_0123456789"
PASSWORD = "double-admin-pw-42"


@pytest.fixture
def double():
    server = GrafanaDouble(admin_password=PASSWORD, tokens=[TOKEN]).start()
    yield server
    server.stop()


def step(module, check=False, diff=False, token="{{ grafana_token }}", **args):
    """One task of a scenario: module args plus per-task check/diff mode."""
    if token and "url_username" not in args:
        args["token"] = token
    return {"module": module, "args": args, "check": check, "diff": diff}


def play(tmp_path, url, steps, secrets=None):
    """Run the steps as one playbook; return the result of each step."""
    secrets = dict({"grafana_token": TOKEN}, **(secrets or {}))
    (tmp_path / "secrets.yml").write_text(yaml.safe_dump(secrets))
    tasks = [{"name": "step %d" % i, "vps.monitoring." + s["module"]: dict(url=url, **s["args"]),
              "check_mode": s["check"], "diff": s["diff"], "ignore_errors": True}
             for i, s in enumerate(steps)]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(
        [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=" + sys.executable,
         "-e", "@" + str(tmp_path / "secrets.yml"), str(tmp_path / "play.yml")],
        capture_output=True, text=True, env=env, timeout=180, check=False)
    output = proc.stdout + proc.stderr
    for name, secret in secrets.items():
        assert secret not in output, "%s leaked into the output" % name
    report = json.loads(proc.stdout)
    return [t["hosts"]["localhost"] for t in report["plays"][0]["tasks"]]


def dash(title="Linux", uid="d-linux", panels=1, **extra):
    return dict({"uid": uid, "title": title,
                 "panels": [{"id": i, "type": "timeseries", "title": "p%d" % i,
                             "targets": [{"refId": "A", "expr": "up"}]} for i in range(panels)]},
                **extra)


def stored(double, uid="d-linux"):
    return double.state.dashboards.get(uid)


def ok(res, changed):
    assert not res.get("failed"), res.get("msg")
    assert res["changed"] is changed, res
    return res


def failed(res, *words):
    assert res.get("failed"), res
    for word in words:
        assert word in res["msg"], res["msg"]
    return res


def test_create_unchanged_update_move_delete(double, tmp_path):
    res = play(tmp_path, double.url, [
        step("grafana_folder", uid="ops", title="Ops"),
        step("grafana_folder", uid="archive", title="Archive"),
        step("grafana_dashboard", dashboard=dash(), folder_uid="ops"),            # 2 create
        step("grafana_dashboard", dashboard=dash(), folder_uid="ops"),            # 3 unchanged
        step("grafana_dashboard", dashboard=dash(panels=2), folder_uid="ops"),    # 4 update
        step("grafana_dashboard", dashboard=dash(panels=2), folder_uid="archive"),  # 5 move
        step("grafana_dashboard", dashboard=dash(panels=2)),                      # 6 stays
        step("grafana_dashboard", uid="d-linux", state="absent"),                 # 7 delete
        step("grafana_dashboard", uid="d-linux", state="absent"),                 # 8 gone
    ])
    ok(res[0], True), ok(res[1], True)
    assert ok(res[2], True)["version"] == 1 and res[2]["folder_uid"] == "ops"
    assert ok(res[3], False)["version"] == 1
    assert ok(res[4], True)["version"] == 2
    assert ok(res[5], True)["folder_uid"] == "archive" and res[5]["version"] == 3
    assert ok(res[6], False)["folder_uid"] == "archive"
    ok(res[7], True), ok(res[8], False)
    assert stored(double) is None
    # Create, update, move: three writes; the unchanged runs wrote nothing.
    assert double.state.calls["POST /api/dashboards/db"] == 3
    assert double.state.calls["DELETE /api/dashboards/uid/([^/]+)"] == 1


def test_check_mode_and_diff_are_truthful(double, tmp_path):
    res = play(tmp_path, double.url, [
        step("grafana_dashboard", check=True, diff=True, dashboard=dash()),
        step("grafana_dashboard", dashboard=dash()),
        step("grafana_dashboard", check=True, diff=True, dashboard=dash(title="Linux host")),
        step("grafana_dashboard", check=True, diff=True, dashboard=dash(), folder_uid=""),
        step("grafana_dashboard", check=True, diff=True, uid="d-linux", state="absent"),
        step("grafana_folder", check=True, diff=True, uid="new", title="New"),
    ])
    assert ok(res[0], True)["diff"]["before"] == {}
    assert res[0]["diff"]["after"]["dashboard"]["title"] == "Linux"
    ok(res[1], True)
    before, after = ok(res[2], True)["diff"]["before"], res[2]["diff"]["after"]
    assert before["dashboard"]["title"] == "Linux" and after["dashboard"]["title"] == "Linux host"
    # id and version are Grafana's, not the user's: normalised away on both sides.
    assert not {"id", "version"} & (set(before["dashboard"]) | set(after["dashboard"]))
    assert not ok(res[3], False).get("diff")
    assert ok(res[4], True)["diff"]["after"] == {}
    ok(res[5], True)
    # Check mode wrote nothing: one create from step 1, title unchanged, no folder.
    assert double.state.calls["POST /api/dashboards/db"] == 1
    assert stored(double)["dashboard"]["title"] == "Linux" and not double.state.folders


@pytest.mark.parametrize("status", [409, 412])
def test_conflict_is_reported_not_clobbered(double, tmp_path, status):
    double.state.conflict_status = status
    res = play(tmp_path, double.url, [
        step("grafana_dashboard", dashboard=dash()),
        step("grafana_dashboard", dashboard=dash(panels=2)),  # someone saves v2
        step("grafana_dashboard", dashboard=dash(panels=3, version=1), overwrite=False),
    ])
    failed(res[2], "conflict (%d)" % status, "overwrite: true", "uid=d-linux")
    assert len(stored(double)["dashboard"]["panels"]) == 2


def test_wrong_credentials_are_401_without_the_secret(double, tmp_path):
    res = play(tmp_path, double.url, [
        step("grafana_dashboard", token="{{ wrong_token }}", dashboard=dash()),
        step("grafana_dashboard", token=None, url_username="admin",
             url_password="{{ wrong_password }}", dashboard=dash()),
        step("grafana_dashboard", token=None, url_username="admin",
             url_password="{{ right_password }}", dashboard=dash()),
    ], secrets={"wrong_token": "glsa_wrong_token_must_not_leak", "wrong_password": "not-it-xyz",
                "right_password": PASSWORD})
    failed(res[0], "401")
    failed(res[1], "401")
    ok(res[2], True)


def test_grafana_still_starting(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answering_503 = GrafanaDouble(tokens=[TOKEN], starting_seconds=3).start()
    refusing = GrafanaDouble(port=port, tokens=[TOKEN], starting_seconds=3, starting_mode="refuse").start()
    try:
        res = play(tmp_path, answering_503.url, [
            step("grafana_dashboard", dashboard=dash(), wait_timeout=30)])
        ok(res[0], True)
        assert answering_503.state.calls["GET /api/dashboards/uid/([^/]+)"] > 1, "no retry happened"
        res = play(tmp_path, refusing.url, [
            step("grafana_folder", uid="ops", title="Ops", wait_timeout=30)])
        ok(res[0], True)
    finally:
        answering_503.stop()
        refusing.stop()
    res = play(tmp_path, refusing.url, [step("grafana_folder", uid="ops", title="Ops", wait_timeout=1)])
    failed(res[0], "did not answer within wait_timeout=1s")


def test_provisioned_objects_are_refused(double, tmp_path):
    double.state.seed_dashboard(dash(), provisioned=True)
    double.state.seed_datasource({"uid": "ro", "name": "RO", "type": "prometheus", "access": "proxy",
                                  "url": "http://a:9090", "isDefault": False, "jsonData": {}},
                                 read_only=True)
    res = play(tmp_path, double.url, [
        step("grafana_dashboard", dashboard=dash()),
        step("grafana_dashboard", dashboard=dash(panels=2)),
        step("grafana_dashboard", uid="d-linux", state="absent"),
        step("grafana_datasource", uid="ro", name="RO", ds_url="http://b:9090"),
    ])
    ok(res[0], False)  # identical: nothing to refuse
    failed(res[1], "provisioned")
    failed(res[2], "provisioned")
    failed(res[3], "readOnly")
    assert stored(double)["dashboard"]["version"] == 1
    assert double.state.datasources["ro"]["url"] == "http://a:9090"


def test_datasource_lifecycle_and_name_conflict(double, tmp_path):
    args = dict(uid="prometheus", name="Prometheus", ds_url="http://prometheus:9090", is_default=True,
                json_data={"timeInterval": "15s"},
                secure_json_data={"httpHeaderValue1": "{{ header_secret }}"})
    res = play(tmp_path, double.url, [
        step("grafana_datasource", diff=True, **args),
        step("grafana_datasource", **args),
        step("grafana_datasource", diff=True, **{**args, "json_data": {"timeInterval": "30s"}}),
        step("grafana_datasource", **{**args, "uid": "other"}),
        step("grafana_datasource", uid="prometheus", state="absent"),
    ], secrets={"header_secret": "s3cr3t-header-value"})
    ok(res[0], True)
    ok(res[1], False)
    assert ok(res[2], True)["diff"]["before"]["jsonData"] == {"timeInterval": "15s"}
    failed(res[3], "conflict (409)", "Prometheus")
    ok(res[4], True)
    assert not double.state.datasources


def test_folder_rename_delete_and_bad_input(double, tmp_path):
    res = play(tmp_path, double.url, [
        step("grafana_folder", uid="ops", title="Ops"),
        step("grafana_folder", diff=True, uid="ops", title="Operations"),
        step("grafana_folder", uid="ops", title="Operations"),
        step("grafana_folder", uid="ops", state="absent"),
        step("grafana_dashboard", dashboard={"title": "No uid"}),
        step("grafana_dashboard", dashboard=dash(), folder_uid="missing-folder"),
    ])
    ok(res[0], True)
    assert ok(res[1], True)["diff"]["before"]["title"] == "Ops"
    ok(res[2], False), ok(res[3], True)
    failed(res[4], "no uid")
    failed(res[5], "400", "folder not found")
    assert not double.state.folders and not double.state.dashboards
