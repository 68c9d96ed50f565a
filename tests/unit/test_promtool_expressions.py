"""Grafana variable substitution and the expressions rule file (no tool needed)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.vps.monitoring.plugins.module_utils import promtool


@pytest.mark.parametrize("expr, expected", [
    ("rate(x[$__rate_interval])", "rate(x[5m])"),
    ("rate(x[${__interval}])", "rate(x[1m])"),
    ("increase(x[$__range])", "increase(x[1h])"),
    ('x{instance=~"$instance"}', 'x{instance=~"grafana_var"}'),
    ('x{instance=~"${instance:regex}"}', 'x{instance=~"grafana_var"}'),
    ('x{job="[[job]]"}', 'x{job="grafana_var"}'),
    ("rate(x[$window])", "rate(x[5m])"),
    ("sum by ($group) (x)", "sum by (grafana_var) (x)"),
    ("sum without (cpu, $drop) (x)", "sum without (cpu, grafana_var) (x)"),
    ("topk($n, x)", "topk(1, x)"),
    ("x > $threshold", "x > 1"),
    ("x / $__interval_ms", "x / 60000"),
    ('x{a="^foo$"}', 'x{a="^foo$"}'),
    ("sum(rate(x[5m])) by (job)", "sum(rate(x[5m])) by (job)"),
])
def test_substitution(expr, expected):
    assert promtool.substitute_grafana_vars(expr) == expected


def test_rule_file_maps_rule_names_back_to_expression_names():
    text, names = promtool.expressions_rule_file([
        {"name": "CPU panel", "expr": "rate(x[$__rate_interval])"},
        {"name": "Memory panel", "expr": "y"},
    ])
    doc = json.loads(text)
    rules = doc["groups"][0]["rules"]
    assert [r["expr"] for r in rules] == ["rate(x[5m])", "y"]
    assert names[rules[0]["record"]] == ("CPU panel", "rate(x[5m])")
    assert names[rules[1]["record"]][0] == "Memory panel"


def test_prometheus_duration():
    for good in ("30s", "5m", "1h30m", "2d", "1w", "1y", "500ms", "0", "1h0m0s"):
        assert promtool.is_prometheus_duration(good), good
    for bad in ("1 hour", "5 minutes", "1.5h", "5", "", "m5", "30m1h", None, 30, "-5m", " 5m"):
        assert not promtool.is_prometheus_duration(bad), bad
