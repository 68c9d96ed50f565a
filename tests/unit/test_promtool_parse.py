"""Parsing of real promtool 2.53 output (captured from the offline Prometheus image)."""

from __future__ import annotations

from ansible_collections.vps.monitoring.plugins.module_utils import promtool

# promtool check rules /tmp/h1/bad2.rules.yml /tmp/h1/good.rules.yml (exit 1)
RULES_STDOUT = "Checking /tmp/h1/bad2.rules.yml\nChecking /tmp/h1/good.rules.yml\n  SUCCESS: 1 rules found\n\n"
RULES_STDERR = (
    "  FAILED:\n"
    "/tmp/h1/bad2.rules.yml: 5:15: group \"g1\", rule 1, \"BadExpr\": could not parse expression: "
    "1:7: parse error: unexpected \"=\"\n"
    "/tmp/h1/bad2.rules.yml: group \"g1\", rule 2, \"BadTmpl\": annotation \"summary\": template: "
    "__alert_BadTmpl:1: unclosed action\n"
    "/tmp/h1/bad2.rules.yml: 10:15: group \"g1\", rule 3, \"job:up:sum\": could not parse expression: "
    "1:7: parse error: unclosed left parenthesis\n"
    "/tmp/h1/bad2.rules.yml: 14:5: groupname: \"g1\" is repeated in the same file\n")

# promtool check rules on a file with two positions before the group (record+alert both set)
BOTH_STDERR = ("  FAILED:\n/tmp/h1/bad3.rules.yml: 9:17: 8:16: group \"g3\", rule 2, \"NoName\": "
               "only one of 'record' and 'alert' must be set\n")

# promtool check config with a duplicate job name / a bad duration (exit 1)
DUP_JOB_STDERR = "  FAILED: parsing YAML file /tmp/h1/prom.yml: found multiple scrape configs with job name \"a\"\n"
BAD_DURATION_RULES_STDERR = "  FAILED:\n/tmp/h1/bad.rules.yml: unknown unit \" hour\" in duration \"1 hour\"\n"

# promtool check rules on duplicate recording rules (exit 0: lint only)
LINT_STDERR = ("  FAILED:\nlint error 1 duplicate rule(s) found.\nMetric: a:b\nLabel(s):\n"
               "Might cause inconsistency while recording expressions\n")

# promtool check web-config (exit 1)
WEB_STDERR = "/tmp/h1/web.yml FAILED: crypto/bcrypt: hashedSecret too short to be a bcrypted password\n"

# promtool test rules good.test.yml with a wrong expectation (exit 1)
TEST_STDOUT = "Unit Testing:  /tmp/h1/good.test.yml\n\n\n\n"
TEST_STDERR = """  FAILED:
    name: wrong expectation,
    alertname: Up, time: 6m,\x20
        exp:[
            0:
              Labels:{alertname="Up", instance="x:1", job="a", severity="warning"}
              Annotations:{}
            ],\x20
        got:[]
    expr: "sum(up)", time: 1m,
        exp: {} 5E+00
        got: {} 1E+00
"""

# promtool test rules on a test whose rule file has a broken template (errors repeat per group)
TEST_BADRULE_STDERR = """  FAILED:
/tmp/h1/bad3.rules.yml: group "g3", rule 1, "BadTmpl": annotation "summary": template: __alert_BadTmpl:1: unclosed action
/tmp/h1/bad3.rules.yml: group "g3", rule 1, "BadTmpl": annotation "summary": template: __alert_BadTmpl:1: unclosed action
"""


def test_rule_findings_name_file_group_and_rule():
    results = promtool.parse_check_output(RULES_STDOUT, RULES_STDERR, ["/tmp/h1/bad2.rules.yml"])
    assert [(r["group"], r["rule"]) for r in results] == [
        ("g1", "BadExpr"), ("g1", "BadTmpl"), ("g1", "job:up:sum"), ("g1", None)]
    assert all(r["file"] == "/tmp/h1/bad2.rules.yml" and r["level"] == "error" for r in results)
    assert results[0]["message"] == 'could not parse expression: 1:7: parse error: unexpected "="'
    assert "unclosed action" in results[1]["message"] and 'annotation "summary"' in results[1]["message"]
    assert "repeated" in results[3]["message"]


def test_several_positions_before_group():
    (result,) = promtool.parse_check_output("", BOTH_STDERR)
    assert (result["group"], result["rule"]) == ("g3", "NoName")
    assert "only one of 'record' and 'alert'" in result["message"]


def test_config_failure_names_the_file_and_keeps_tool_text():
    (result,) = promtool.parse_check_output("Checking /tmp/h1/prom.yml\n\n", DUP_JOB_STDERR, ["/tmp/h1/prom.yml"])
    assert result["file"] == "/tmp/h1/prom.yml"
    assert 'found multiple scrape configs with job name "a"' in result["message"]


def test_file_level_rule_error():
    (result,) = promtool.parse_check_output("", BAD_DURATION_RULES_STDERR, ["/tmp/h1/bad.rules.yml"])
    assert result["file"] == "/tmp/h1/bad.rules.yml" and result["group"] is None
    assert 'duration "1 hour"' in result["message"]


def test_lint_is_a_warning():
    (result,) = promtool.parse_check_output("Checking /tmp/h1/dup.rules.yml\n\n", LINT_STDERR)
    assert result["level"] == "warning" and "a:b" in result["message"]


def test_web_config():
    (result,) = promtool.parse_check_output("", WEB_STDERR, ["/tmp/h1/web.yml"])
    assert result["file"] == "/tmp/h1/web.yml" and "bcrypt" in result["message"]


def test_web_config_success_line_is_not_a_finding():
    # promtool check web-config writes "<file> SUCCESS" to standard error (exit 0).
    assert promtool.parse_check_output("", "/tmp/h1/web.yml SUCCESS\n", ["/tmp/h1/web.yml"]) == []


def test_unit_test_failures_name_test_alert_and_diff():
    results = promtool.parse_test_output(TEST_STDOUT, TEST_STDERR, ["/tmp/h1/good.test.yml"])
    assert [(r["test"], r["rule"], r["eval_time"]) for r in results] == [
        ("wrong expectation", "Up", "6m"), ("wrong expectation", "sum(up)", "1m")]
    assert all(r["file"] == "/tmp/h1/good.test.yml" for r in results)
    assert 'severity="warning"' in results[0]["message"] and "got:[]" in results[0]["message"]
    assert "got: {} 1E+00" in results[1]["message"]


def test_unit_test_rule_file_errors_are_deduplicated():
    results = promtool.parse_test_output("Unit Testing:  /tmp/h1/bad3.test.yml\n", TEST_BADRULE_STDERR)
    assert len(results) == 1 and results[0]["rule"] == "BadTmpl"


def test_unit_test_warnings():
    assert promtool.parse_test_warnings("  WARNING: no file match pattern /x/none.rules.yml\n") == [
        "no file match pattern /x/none.rules.yml"]


class FakeRunner:
    """Stands in for ToolRunner: records calls and answers with captured output."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def run(self, args, paths=()):
        self.calls.append((list(args), list(paths)))
        return self.answers.pop(0)


def test_failing_test_files_are_rerun_singly_for_attribution(tmp_path):
    from ansible_collections.vps.monitoring.plugins.module_utils.tool_runner import ToolResult
    good, bad = tmp_path / "a.test.yml", tmp_path / "b.test.yml"
    good.write_text("x")
    bad.write_text("x")
    runner = FakeRunner([
        ToolResult(1, "", TEST_STDERR),
        ToolResult(0, "Unit Testing:  %s\n  SUCCESS\n" % good, ""),
        ToolResult(1, "Unit Testing:  %s\n" % bad, TEST_STDERR),
    ])
    results, _tool_result = promtool.check_files(runner, "test_rules", [str(good), str(bad)])
    assert {r["file"] for r in results} == {str(bad)}
    assert [c[0][-1] for c in runner.calls[1:]] == [str(good), str(bad)]
