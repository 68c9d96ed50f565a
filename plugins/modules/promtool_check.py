#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: promtool_check
short_description: Validate Prometheus config, rules, rule unit tests, web config or PromQL with promtool
version_added: "0.1.0"
description:
  - Runs the real C(promtool) over files or bare PromQL expressions and returns its findings as
    structured results (file, group, rule, the tool's message).
  - With O(image), promtool runs from that image through the Docker SDK, so the validator is the
    same build that will run the config. The container has no network, runs as user 65534 (nobody)
    with a read-only root filesystem, sees the directories of the checked files read-only at the
    same paths, and is removed afterwards. The image is never pulled.
  - With O(binary), a local promtool is run instead.
  - Changes nothing, so it runs in check mode too.
  - Prometheus resolves C(rule_files) relative to the config file's directory, so a staging
    directory holding C(prometheus.yml) and C(rules/) is fully validated by O(check=config).
author:
  - vps.monitoring maintainers (@vps-monitoring)
options:
  check:
    description:
      - What to validate.
      - V(config) runs C(promtool check config) (also checks the rule files it references).
      - V(rules) runs C(promtool check rules).
      - V(test_rules) runs C(promtool test rules) on rule unit-test files; a failure names the test,
        the alert or expression, and includes promtool's expected/got text.
      - V(web_config) runs C(promtool check web-config).
      - V(expressions) parses each entry of O(expressions) as PromQL.
    type: str
    required: true
    choices: [config, rules, test_rules, web_config, expressions]
  paths:
    description:
      - Host paths of the files to check. Required unless O(check=expressions).
      - Files must be readable by user 65534 when O(image) is used.
    type: list
    elements: path
    default: []
  scratch_dir:
    description:
      - Directory for the temporary rule file of O(check=expressions); it is removed afterwards.
      - With O(image), the Docker engine mounts it at the same path, so it must be a path of the
        Docker host. The default (the system temporary directory) is right when the module runs
        on that host; set it when the target only shares part of its filesystem with the engine
        (for example a container driving the host's engine through its socket).
    type: path
  expressions:
    description:
      - PromQL expressions to parse when O(check=expressions), for example every panel query of a
        Grafana dashboard.
      - Each is wrapped as a recording rule in a temporary rule file and checked with
        C(promtool check rules), which runs the real PromQL parser and type checker.
      - Grafana template variables are substituted first, since they are not PromQL.
        C($__rate_interval), C($__interval) and C($__range) become durations; C($__interval_ms),
        C($__range_s), C($__range_ms) numbers; any other C($var), C(${var}), C(${var:fmt}) or
        C([[var]]) becomes a label value inside quotes, a duration inside C([...]), a label name
        inside C(by)/C(without)/C(on)/C(ignoring) lists, and a number elsewhere.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name reported when this expression fails (for example C(dashboard/panel title)).
        type: str
        required: true
      expr:
        description: The PromQL expression.
        type: str
        required: true
  tool_path:
    # Description and type come from the vps.monitoring.tool_runner fragment.
    default: /bin/promtool
extends_documentation_fragment: [vps.monitoring.tool_runner]
notes:
  - Only files are read; nothing on the target changes.
seealso:
  - module: vps.monitoring.amtool_check
"""

EXAMPLES = r"""
- name: Validate the staged Prometheus config and the rule files it references
  vps.monitoring.promtool_check:
    check: config
    paths: [/opt/vps-monitoring/prometheus/staging/prometheus.yml]
    image: "{{ prometheus_image }}"

- name: Run the alert rules' unit tests
  vps.monitoring.promtool_check:
    check: test_rules
    paths: "{{ rule_test_files }}"
    image: "{{ prometheus_image }}"

- name: Parse every panel expression of a dashboard
  vps.monitoring.promtool_check:
    check: expressions
    expressions:
      - name: "Node / CPU"
        expr: 'sum by (instance) (rate(node_cpu_seconds_total{instance=~"$instance"}[$__rate_interval]))'
    binary: /usr/bin/promtool
"""

RETURN = r"""
results:
  description:
    - One entry per finding. Empty when everything is valid and there are no warnings.
    - For O(check=test_rules), C(rule) is the alert name or expression under test, C(test) the
      test's name and C(message) contains promtool's expected/got text.
    - For O(check=expressions), C(rule) is the expression's name and C(expr) what was parsed.
  returned: always
  type: list
  elements: dict
  sample:
    - file: /opt/vps-monitoring/prometheus/staging/rules/custom.rules.yml
      group: custom
      rule: HighLoad
      level: error
      message: 'could not parse expression: 1:7: parse error: unexpected "="'
stdout:
  description: promtool's standard output (for expressions, of the temporary rule file check).
  returned: when the tool ran
  type: str
stderr:
  description: promtool's standard error, where it writes its findings.
  returned: when the tool ran
  type: str
rc:
  description: promtool's exit code.
  returned: when the tool ran
  type: int
tool_version:
  description: First line of C(promtool --version).
  returned: when the tool ran
  type: str
  sample: "promtool, version 2.53.3+ds1 (branch: debian/sid, revision: 2.53.3+ds1-2)"
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vps.monitoring.plugins.module_utils import promtool
from ansible_collections.vps.monitoring.plugins.module_utils.tool_runner import (
    TOOL_RUNNER_CONSTRAINTS, ToolError, module_runner, tool_runner_args)

FIX_HINT = {
    "config": "fix the config (or the rule file it references) and run again",
    "rules": "fix the rule and run again",
    "test_rules": "fix the rule or its unit test and run again",
    "web_config": "fix the web config and run again",
    "expressions": "fix the PromQL expression and run again",
}


def describe(result):
    """One line naming the culprit first, then promtool's own message."""
    where = []
    if result.get("file"):
        where.append(result["file"])
    if result.get("group"):
        where.append("group %r" % result["group"])
    if result.get("test"):
        where.append("test %r" % result["test"])
    if result.get("rule"):
        where.append(("expression %r" if "expr" in result else "rule %r") % result["rule"])
    prefix = ", ".join(where)
    return "%s: %s" % (prefix, result["message"]) if prefix else result["message"]


def failure_message(check, results, where):
    errors = [r for r in results if r["level"] == "error"]
    head = "promtool (%s) rejected %d item(s) in check %s; %s:" % (where, len(errors), check, FIX_HINT[check])
    return "\n".join([head] + ["- " + describe(r) for r in errors])


def main():
    spec = tool_runner_args(promtool.PROMTOOL_PATH)
    spec.update(
        check=dict(type="str", required=True, choices=list(FIX_HINT)),
        paths=dict(type="list", elements="path", default=[]),
        expressions=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            expr=dict(type="str", required=True),
        )),
        scratch_dir=dict(type="path"),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **TOOL_RUNNER_CONSTRAINTS)
    params = module.params
    check = params["check"]
    if check == "expressions" and not params["expressions"]:
        module.fail_json(msg="check=expressions needs a non-empty expressions list of {name, expr}")
    if check != "expressions" and not params["paths"]:
        module.fail_json(msg="check=%s needs paths: the files to check" % check)
    if check != "expressions":
        missing = [p for p in params["paths"] if not os.path.isfile(p)]
        if missing:
            module.fail_json(msg="paths: no such file(s): %s" % ", ".join(missing))

    try:
        runner = module_runner(module)
        if check == "expressions":
            results, outcome = promtool.check_expressions(runner, params["expressions"],
                                                          scratch_dir=params["scratch_dir"])
        else:
            results, outcome = promtool.check_files(runner, check, params["paths"], params["mount_dirs"])
        version = runner.version()
    except ToolError as exc:
        module.fail_json(msg="cannot run promtool: %s" % exc, results=[])

    output = dict(changed=False, results=results, stdout=outcome.stdout, stderr=outcome.stderr,
                  rc=outcome.rc, tool_version=version)
    if outcome.rc != 0 or any(r["level"] == "error" for r in results):
        module.fail_json(msg=failure_message(check, results, runner.where), **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
