# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""grafana_service_account_token, for real through ansible-playbook, against the Grafana API TEST DOUBLE.

The token is a secret: the task registers it with no_log, and a second task
reports only facts about it (its length, whether the file holds the same
value), so the output can be checked for the secret too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grafana_double import GrafanaDouble

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "double-admin-pw-77"


@pytest.fixture
def double():
    server = GrafanaDouble(admin_password=PASSWORD).start()
    yield server
    server.stop()


def run(tmp_path, url, password=PASSWORD, check=False):
    token_file = tmp_path / "config" / "api-token"
    (tmp_path / "secrets.yml").write_text(yaml.safe_dump({"admin_password": password}))
    tasks = [
        {"name": "token", "register": "sa", "no_log": True, "check_mode": check, "ignore_errors": True,
         "vps.monitoring.grafana_service_account_token": {
             "url": url, "url_username": "admin", "url_password": "{{ admin_password }}",
             "name": "vps-monitoring", "token_file": str(token_file), "wait_timeout": 5}},
        {"name": "facts", "ansible.builtin.debug": {"msg": {
            "failed": "{{ sa.failed | default(false) }}", "changed": "{{ sa.changed }}",
            "created": "{{ sa.created | default(none) }}", "length": "{{ sa.token | default('') | length }}",
            "same_as_file": "{{ sa.token | default('') == (lookup('ansible.builtin.file', '%s', errors='ignore') | default('', true)) }}"
            % token_file}}},
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(tmp_path / "secrets.yml"),
         str(tmp_path / "play.yml")], capture_output=True, text=True, env=env, timeout=180, check=False)
    report = json.loads(proc.stdout)
    facts = report["plays"][0]["tasks"][1]["hosts"]["localhost"]["msg"]
    return facts, proc.stdout + proc.stderr, token_file


def test_created_once_then_reused_and_replaced_when_revoked(double, tmp_path):
    facts, output, token_file = run(tmp_path, double.url)
    assert facts["failed"] is False and facts["changed"] is True and facts["created"] is True
    token = token_file.read_text().strip()
    assert facts["length"] == len(token) > 0 and facts["same_as_file"] is True
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert token not in output and PASSWORD not in output
    assert [sa["name"] for sa in double.state.service_accounts.values()] == ["vps-monitoring"]

    facts, output, _unused = run(tmp_path, double.url)
    assert facts["changed"] is False and facts["created"] is False
    assert token_file.read_text().strip() == token

    double.state.tokens.discard(token)  # revoked in Grafana
    facts, output, _unused = run(tmp_path, double.url)
    assert facts["changed"] is True and facts["created"] is True
    new = token_file.read_text().strip()
    assert new != token and new not in output
    # Still one service account: the existing one got a second token.
    [account] = double.state.service_accounts.values()
    assert len(account["tokens"]) == 2


def test_check_mode_reports_a_creation_and_writes_nothing(double, tmp_path):
    facts, _output, token_file = run(tmp_path, double.url, check=True)
    assert facts["changed"] is True and facts["created"] is True and facts["length"] == 0
    assert not token_file.exists() and not double.state.service_accounts


def test_wrong_admin_password_fails_without_printing_it(double, tmp_path):
    facts, output, token_file = run(tmp_path, double.url, password="not-the-password-123")
    assert facts["failed"] is True and not token_file.exists()
    assert "not-the-password-123" not in output
