"""The rendered Alertmanager config routes as the role promises.

Renders roles/alertmanager/templates/alertmanager.yml.j2 through Ansible and
asks the real amtool (from the Alertmanager image) which receiver a given
alert reaches.
"""

from __future__ import annotations

import pytest
import yaml

from am_helpers import amtool, render


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


def test_defaults_pass_amtool_with_inhibit_rules(tmp_path, images):
    path = render(tmp_path, {})
    config = yaml.safe_load(open(path, encoding="utf-8"))
    assert {"source_matchers": ['alertname="JobDown"'], "target_matchers": ['alertname="TargetDown"'],
            "equal": ["job"]} in config["inhibit_rules"]
    assert "time_intervals" not in config
    result = amtool(images["alertmanager_image"], path, "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_inhibition_can_be_switched_off(tmp_path):
    path = render(tmp_path, {"alertmanager_inhibit_rules": []})
    assert "inhibit_rules" not in yaml.safe_load(open(path, encoding="utf-8"))


def test_heartbeat_url_receives_the_watchdog_and_nothing_else(tmp_path, images):
    url = "https://hc-ping.example.invalid/0f4e2a3c"
    path = render(tmp_path, {"alertmanager_heartbeat_url": url, "alertmanager_watchdog_repeat_interval": "2m"})
    img = images["alertmanager_image"]
    result = amtool(img, path, "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert route(img, path, "alertname=Watchdog", "severity=none") == "heartbeat"
    assert route(img, path, "alertname=JobDown", "severity=critical") == "n8n"
    config = yaml.safe_load(open(path, encoding="utf-8"))
    heartbeat = next(r for r in config["receivers"] if r["name"] == "heartbeat")
    # The ping URL is a secret: read from a file, never written into the config.
    assert heartbeat["webhook_configs"] == [
        {"url_file": "/etc/alertmanager/secrets/heartbeat_url", "send_resolved": False}]
    assert url not in open(path, encoding="utf-8").read()
    watchdog = config["route"]["routes"][0]
    assert (watchdog["repeat_interval"], watchdog["group_wait"]) == ("2m", "0s")


def test_quiet_hours_mute_warnings_only(tmp_path, images):
    quiet = [{"times": [{"start_time": "22:00", "end_time": "24:00"},
                        {"start_time": "00:00", "end_time": "07:00"}],
              "location": "Europe/Berlin"}]
    path = render(tmp_path, {"alertmanager_quiet_hours": quiet})
    img = images["alertmanager_image"]
    result = amtool(img, path, "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(open(path, encoding="utf-8"))
    assert config["time_intervals"] == [{"name": "quiet-hours", "time_intervals": quiet}]
    routes = {r["matchers"][0]: r for r in config["route"]["routes"]}
    assert routes['severity="warning"']["mute_time_intervals"] == ["quiet-hours"]
    assert "mute_time_intervals" not in routes['severity="critical"']
    # Muting does not change where an alert goes, only when.
    assert route(img, path, "alertname=HostHighCpuUsage", "severity=warning") == "n8n"
