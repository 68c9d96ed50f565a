# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every shipped panel query parses with the real promtool; a broken one is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.vps.monitoring.plugins.filter.dashboard_expressions import dashboard_expressions
from ansible_collections.vps.monitoring.plugins.module_utils.promtool import check_expressions
from ansible_collections.vps.monitoring.plugins.module_utils.tool_runner import ToolRunner

DASHBOARDS = Path(__file__).resolve().parents[2] / "roles" / "grafana" / "files" / "dashboards"


@pytest.fixture(scope="module")
def runner(images, docker_client):
    return ToolRunner("/bin/promtool", image=images["prometheus_image"])


def test_every_shipped_expression_parses(runner):
    expressions = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        expressions += dashboard_expressions(json.loads(path.read_text()))
    assert len(expressions) > 40
    findings, result = check_expressions(runner, expressions)
    assert not findings, findings
    assert result.rc == 0


def test_a_broken_panel_is_named(runner):
    dash = json.loads((DASHBOARDS / "linux-system.json").read_text())
    dash["panels"][0]["targets"][0]["expr"] = "rate(node_cpu_seconds_total[$__rate_interval]"
    findings, _tool_result = check_expressions(runner, dashboard_expressions(dash))
    assert findings and any("Linux System / CPU busy" in (f.get("rule") or "") for f in findings), findings
