"""Parsing of real amtool 0.28 check-config output (captured from the offline Alertmanager image)."""

from __future__ import annotations

from ansible_collections.vps.monitoring.plugins.modules import amtool_check

# amtool check-config /tmp/h1/amgood.yml /tmp/h1/am.yml (exit 1)
STDOUT = ("Checking '/tmp/h1/amgood.yml'  SUCCESS\nFound:\n - global config\n - route\n - 0 inhibit rules\n"
          " - 1 receivers\n - 0 templates\n\n"
          "Checking '/tmp/h1/am.yml'  FAILED: undefined receiver \"pager\" used in route\n\n")
STDERR = "amtool: error: failed to validate 1 file(s)\n\n"
DURATION_STDOUT = "Checking '/tmp/h1/amdur.yml'  FAILED: unknown unit \" minutes\" in duration \"5 minutes\"\n\n"


def test_one_result_per_file_and_the_unknown_receiver_is_named():
    ok, bad = amtool_check.parse_check_config(STDOUT, STDERR, ["/tmp/h1/amgood.yml", "/tmp/h1/am.yml"])
    assert ok == {"file": "/tmp/h1/amgood.yml", "level": "ok", "message": "SUCCESS", "receiver": None}
    assert bad["file"] == "/tmp/h1/am.yml" and bad["level"] == "error" and bad["receiver"] == "pager"
    assert bad["message"] == 'undefined receiver "pager" used in route'
    text = amtool_check.describe(bad)
    assert "'pager'" in text and "receivers:" in text and "undefined receiver" in text


def test_invalid_duration():
    (result,) = amtool_check.parse_check_config(DURATION_STDOUT, STDERR, ["/tmp/h1/amdur.yml"])
    assert result["level"] == "error" and 'duration "5 minutes"' in result["message"]


def test_file_without_a_checking_line_gets_stderr():
    (result,) = amtool_check.parse_check_config("", "amtool: error: open /x.yml: permission denied\n", ["/x.yml"])
    assert result["level"] == "error" and "permission denied" in result["message"]
