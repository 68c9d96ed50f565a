"""vps.monitoring.value_errors: every value that becomes a flag or a limit."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vps.monitoring.plugins.filter.value_errors import value_errors


def _one(kind, value, name="v"):
    return value_errors([{"name": name, "value": value, "kind": kind}])


@pytest.mark.parametrize("kind,good,bad", [
    ("duration", ["15s", "1h30m", "15d", "0"], ["15 days", "15days", "", "1.5h", None]),
    ("prometheus_size", ["5GB", "512MB", "1TB", "100B"], ["5XB", "5 GB", "5gb", "5G", "-1GB"]),
    ("docker_memory", ["256m", "1g", "2G", "6291456"], ["lots", "512 megabytes", "1m", "5k", "1.5g"]),
    ("port", [1, 9090, "9090", 65535], [0, 65536, 99999, "http", -1, True, 9090.5]),
    ("ratio", [0.85, 1, "0.5"], [0, 1.5, -0.1, "x", float("nan")]),
    ("positive_int", [1, 60, "120"], [0, -3, 1.5, "x"]),
    ("non_negative", [0, 2.5], [-1, "x"]),
    ("url", ["http://n8n:5678/webhook", "https://x.example.org"], ["", "n8n:5678", "ftp://x"]),
    ("optional_url", ["", "https://x.example.org/prom"], ["x.example.org"]),
    ("targets", [["a:1"], ["myapp:8080", "10.0.0.1:9100", "[::1]:9090"], []],
     [["host:99999"], ["host"], ["host:0"], "host:80", [":80"]]),
])
def test_each_kind_accepts_good_values_and_refuses_bad_ones(kind, good, bad):
    for value in good:
        assert _one(kind, value) == [], (kind, value)
    for value in bad:
        assert len(_one(kind, value)) == 1, (kind, value)


def test_a_message_names_the_variable_its_value_and_a_good_value():
    [message] = _one("prometheus_size", "5XB", name="prometheus_retention_size")
    assert message.startswith("prometheus_retention_size=5XB is not a Prometheus size")
    assert "5GB" in message


def test_a_mapping_of_names_to_kinds_takes_values_in_order():
    errors = value_errors({"a_port": "port", "a_size": "prometheus_size"}, [99999, "5GB"])
    assert errors == ["a_port=99999 is not a TCP port from 1 to 65535. Use a value like 9090."]


def test_mistakes_in_the_checks_themselves_are_errors():
    with pytest.raises(AnsibleFilterError, match="unknown kind"):
        _one("colour", "red")
    with pytest.raises(AnsibleFilterError, match="one value per name"):
        value_errors({"a": "port"}, [])
    with pytest.raises(AnsibleFilterError, match="name, value and kind"):
        value_errors([{"value": 1}])
