"""The rendered Alertmanager config routes as the role promises.

Renders roles/alertmanager/templates/alertmanager.yml.j2 through Ansible and
asks the real amtool (from the Alertmanager image) which receiver a given
alert reaches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT

PLAYBOOK = ROOT / "tests" / "integration" / "render_alertmanager.yml"


def render(tmp_path, override: dict) -> str:
    os.chmod(tmp_path, 0o755)
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(PLAYBOOK), "-e", f"am_out={tmp_path}",
         "-e", json.dumps({"override": override}), "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    return str(tmp_path / "alertmanager.yml")


def amtool(image: str, path: str, *args: str) -> subprocess.CompletedProcess:
    directory = os.path.dirname(path)
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{directory}:{directory}:ro",
         "--entrypoint", "/bin/amtool", image, *args],
        capture_output=True, text=True, check=False)


def route(image: str, path: str, *labels: str) -> str:
    result = amtool(image, path, "config", "routes", "test", f"--config.file={path}", *labels)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


SPLIT = {
    "alertmanager_critical_receiver": "pager",
    "alertmanager_warning_receiver": "digest",
    "alertmanager_watchdog_receiver": "deadmans",
    "alertmanager_extra_receivers": [
        {"name": "pager", "webhook_configs": [{"url": "http://n8n:5678/webhook/critical"}]},
        {"name": "digest", "webhook_configs": [{"url": "http://n8n:5678/webhook/digest"}]},
        {"name": "deadmans", "webhook_configs": [{"url": "http://example.invalid/ping"}]},
    ],
}


def test_defaults_send_everything_to_n8n_with_resolved(tmp_path, images):
    path = render(tmp_path, {})
    config = yaml.safe_load(open(path, encoding="utf-8"))
    n8n = next(r for r in config["receivers"] if r["name"] == "n8n")
    assert n8n["webhook_configs"][0] == {
        "url": "http://n8n:5678/webhook/prometheus/alert", "send_resolved": True}
    assert config["route"]["group_by"] == ["alertname", "severity"]
    assert (config["route"]["group_wait"], config["route"]["group_interval"],
            config["route"]["repeat_interval"]) == ("30s", "5m", "4h")
    assert config["global"]["resolve_timeout"] == "5m"
    img = images["alertmanager_image"]
    assert route(img, path, "alertname=X", "severity=critical") == "n8n"
    assert route(img, path, "alertname=X", "severity=warning") == "n8n"
    assert route(img, path, "alertname=Watchdog", "severity=none") == "blackhole"


def test_critical_and_warning_go_to_different_receivers(tmp_path, images):
    path = render(tmp_path, SPLIT)
    img = images["alertmanager_image"]
    assert amtool(img, path, "check-config", path).returncode == 0
    assert route(img, path, "alertname=DiskFull", "severity=critical") == "pager"
    assert route(img, path, "alertname=HighCpu", "severity=warning") == "digest"
    assert route(img, path, "alertname=Watchdog", "severity=none") == "deadmans"
    assert route(img, path, "alertname=Other", "severity=info") == "n8n"


def test_bearer_token_stays_out_of_the_config(tmp_path):
    path = render(tmp_path, {"alertmanager_n8n_bearer_token": "s3cret-token-value"})
    text = open(path, encoding="utf-8").read()
    assert "s3cret-token-value" not in text
    assert "credentials_file: /etc/alertmanager/secrets/n8n_bearer_token" in text


@pytest.mark.parametrize("receiver", ["telegram", "pager-typo"])
def test_unknown_receiver_is_rejected_by_amtool(tmp_path, images, receiver):
    path = render(tmp_path, {"alertmanager_critical_receiver": receiver})
    result = amtool(images["alertmanager_image"], path, "check-config", path)
    assert result.returncode != 0
    assert receiver in (result.stdout + result.stderr)
