"""The n8n_workflows role against a real n8n (scripts/n8n.sh's pinned 1.x),
driven through n8n's CLI on its own database: first run imports and
activates both workflows, a second run changes nothing, drift in n8n is
put back, and check mode reports without touching n8n."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import ROOT

N8N_SH = ROOT / "scripts" / "n8n.sh"
WORKFLOWS = ROOT / "roles" / "n8n_workflows" / "files" / "workflows"


@pytest.fixture(scope="module")
def n8n_cli(tmp_path_factory):
    found = subprocess.run(["bash", str(N8N_SH), "bin"], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        pytest.skip(f"n8n could not be installed here ({found.stderr.strip()}); see scripts/n8n.sh install")
    home = tmp_path_factory.mktemp("n8n-role")
    listed = subprocess.run(["bash", str(N8N_SH), "env", str(home / "data")], capture_output=True, text=True,
                            check=True).stdout
    env = dict(line.split("=", 1) for line in listed.splitlines() if "=" in line)
    return {"bin": found.stdout.strip(), "env": env, "home": home}


def cli(n8n_cli, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([n8n_cli["bin"], *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **n8n_cli["env"]})


def held(n8n_cli) -> dict:
    out = cli(n8n_cli, "export:workflow", "--all")
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("[{")]
    return {w["id"]: w for w in json.loads(lines[-1])} if lines else {}


def play(n8n_cli, *flags: str) -> tuple[int, int, str]:
    playbook = n8n_cli["home"] / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: vps.monitoring.n8n_workflows\n")
    extra = {"n8n_workflows_cli": [n8n_cli["bin"]], "n8n_workflows_environment": n8n_cli["env"],
             "n8n_workflows_stage_dir": str(n8n_cli["home"] / "stage"), "n8n_workflows_restart_command": [],
             "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")}
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"), "ANSIBLE_NOCOLOR": "1"}
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          "-e", json.dumps(extra), str(playbook), *flags],
                         capture_output=True, text=True, env=env, check=False)
    recap = [ln for ln in out.stdout.splitlines() if ln.startswith("localhost") and "ok=" in ln][-1]
    fields = dict(part.split("=") for part in recap.split()[2:])
    return int(fields["changed"]), int(fields["failed"]), out.stdout + out.stderr


def test_role_imports_once_puts_drift_back_and_checks_truthfully(n8n_cli):
    files = {p.name: json.loads(p.read_text()) for p in WORKFLOWS.glob("*.json")}
    changed, failed, out = play(n8n_cli, "--check")
    assert failed == 0 and changed >= 1 and "would import" in out, out
    assert held(n8n_cli) == {}, "check mode imported something"

    changed, failed, out = play(n8n_cli)
    assert failed == 0 and changed >= 2, out
    now = held(n8n_cli)
    for wf in files.values():
        assert now[wf["id"]]["active"] is True, wf["name"]
        assert now[wf["id"]]["connections"] == wf["connections"]
        assert [n["parameters"] for n in now[wf["id"]]["nodes"]] == [n["parameters"] for n in wf["nodes"]]

    changed, failed, out = play(n8n_cli)
    assert (changed, failed) == (0, 0), out

    # Drift: someone deactivates one workflow and edits the other in n8n.
    hub = files["alert-hub.json"]
    edited = json.loads(json.dumps(hub))
    edited["nodes"][1]["parameters"]["jsCode"] = "return [];"
    edited_path = n8n_cli["home"] / "edited.json"
    edited_path.write_text(json.dumps(edited))
    assert cli(n8n_cli, "import:workflow", f"--input={edited_path}").returncode == 0
    session = files["session-end.json"]
    assert cli(n8n_cli, "update:workflow", f"--id={session['id']}", "--active=false").returncode == 0
    changed, failed, out = play(n8n_cli, "--check")
    assert failed == 0 and changed == 1 and "would import ['vps.monitoring: alert hub']" in out, out
    changed, failed, out = play(n8n_cli)
    assert failed == 0 and changed >= 2, out
    now = held(n8n_cli)
    assert now[hub["id"]]["nodes"][1]["parameters"] == hub["nodes"][1]["parameters"]
    assert now[hub["id"]]["active"] is True and now[session["id"]]["active"] is True
    changed, failed, out = play(n8n_cli, "--check")
    assert (changed, failed) == (0, 0), out


def test_role_refuses_a_cli_that_is_not_n8n(n8n_cli, tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: vps.monitoring.n8n_workflows\n")
    extra = {"n8n_workflows_cli": ["/bin/false"], "n8n_workflows_stage_dir": str(tmp_path / "stage"),
             "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")}
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"), "ANSIBLE_NOCOLOR": "1"}
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          "-e", json.dumps(extra), str(playbook)], capture_output=True, text=True, env=env, check=False)
    assert out.returncode != 0 and "n8n_workflows_cli" in out.stdout, out.stdout
    assert not (tmp_path / "stage").exists()
