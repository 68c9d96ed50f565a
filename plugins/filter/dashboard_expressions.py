# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dashboard_expressions: every PromQL expression of a Grafana dashboard, named for reports."""

from __future__ import annotations

import json
import re

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: dashboard_expressions
short_description: List every PromQL expression in a Grafana dashboard
version_added: 0.1.0
description:
  - Walks the panels (rows and collapsed rows included) and the query template variables of a
    dashboard and returns one C({name, expr}) per PromQL query, ready for
    M(vps.monitoring.promtool_check) with O(vps.monitoring.promtool_check#module:check=expressions).
  - C(name) is C(<dashboard title> / <panel title> [<refId>]) so a failure names the panel.
  - Query variables C(label_values(<selector>, <label>)) contribute the selector;
    C(query_result(<expr>)) contributes the expression; C(label_values(<label>)) and
    non-query variables contribute nothing.
  - Targets whose datasource is not Prometheus (for example Grafana expressions) are skipped.
options:
  _input:
    description: The dashboard as a dict or JSON string; an export wrapper C({dashboard, meta}) is accepted.
    type: raw
    required: true
author: vps.monitoring maintainers (@vps-monitoring)
"""

EXAMPLES = r"""
- name: Parse every panel query with promtool before registering anything
  vps.monitoring.promtool_check:
    check: expressions
    image: "{{ prometheus_image }}"
    expressions: "{{ lookup('ansible.builtin.file', 'linux-system.json') | vps.monitoring.dashboard_expressions }}"
"""

RETURN = r"""
_value:
  description: One entry per PromQL expression.
  type: list
  elements: dict
  contains:
    name:
      description: Dashboard title, panel title and refId.
      type: str
    expr:
      description: The expression as written in the dashboard (template variables kept).
      type: str
"""

_LABEL_VALUES = re.compile(r"^\s*label_values\s*\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", re.S)
_QUERY_RESULT = re.compile(r"^\s*query_result\s*\((.*)\)\s*$", re.S)
_NOT_PROMQL = re.compile(r"^\s*(label_values\s*\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\)|label_names\s*\(|metrics\s*\()")


def _load(value):
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise AnsibleFilterError("dashboard_expressions: not valid JSON: %s" % exc) from exc
    if not isinstance(value, dict):
        raise AnsibleFilterError("dashboard_expressions: expected a dashboard object, got %s"
                                 % type(value).__name__)
    if isinstance(value.get("dashboard"), dict):
        value = value["dashboard"]
    return value


def _is_prometheus(datasource, default=True):
    if isinstance(datasource, dict):
        kind = datasource.get("type")
        return default if kind is None else kind == "prometheus"
    if isinstance(datasource, str):
        return not datasource.startswith("__expr__") and datasource != "-- Grafana --"
    return default


def _panels(panels):
    for panel in panels or []:
        yield panel
        # Collapsed rows keep their panels inside the row.
        yield from _panels(panel.get("panels"))


def _variable_expr(query):
    if isinstance(query, dict):
        query = query.get("query")
    if not isinstance(query, str) or not query.strip() or _NOT_PROMQL.match(query):
        return None
    for pattern in (_LABEL_VALUES, _QUERY_RESULT):
        match = pattern.match(query)
        if match:
            return match.group(1).strip()
    return query.strip()


def dashboard_expressions(value):
    dashboard = _load(value)
    title = dashboard.get("title") or dashboard.get("uid") or "dashboard"
    found = []
    for panel in _panels(dashboard.get("panels")):
        panel_ok = _is_prometheus(panel.get("datasource"))
        for target in panel.get("targets") or []:
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                continue
            if not _is_prometheus(target.get("datasource"), default=panel_ok):
                continue
            found.append({"name": "%s / %s [%s]" % (title, panel.get("title") or "untitled",
                                                    target.get("refId", "A")),
                          "expr": expr})
    for var in (dashboard.get("templating") or {}).get("list") or []:
        if var.get("type") != "query" or not _is_prometheus(var.get("datasource")):
            continue
        expr = _variable_expr(var.get("query"))
        if expr:
            found.append({"name": "%s / variable %s" % (title, var.get("name")), "expr": expr})
    return found


class FilterModule:
    def filters(self):
        return {"dashboard_expressions": dashboard_expressions}
