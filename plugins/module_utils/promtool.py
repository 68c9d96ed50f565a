# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""promtool invocation and output parsing, shared by the promtool_check module.

promtool writes "Checking <file>" progress to stdout and its findings to
stderr; rule findings are one line each, prefixed with the file and carrying
group, rule index and rule name. Those lines are parsed into
{file, group, rule, message, level} so callers can name the culprit while
still showing the tool's own words.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile

PROMTOOL_PATH = "/bin/promtool"

# Prometheus' duration syntax (model.ParseDuration): units in descending order,
# each at most once, integers only; "0" alone is allowed.
_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


def is_prometheus_duration(value):
    """True when ``value`` is a string Prometheus accepts as a duration (30s, 5m, 1h30m)."""
    if not isinstance(value, str) or not value:
        return False
    if value == "0":
        return True
    return bool(_DURATION_RE.match(value))


_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def prometheus_duration_seconds(value):
    """Seconds in a Prometheus duration (1h30m -> 5400.0); ValueError when it is not one."""
    if not is_prometheus_duration(value):
        raise ValueError("%r is not a Prometheus duration" % (value,))
    if value == "0":
        return 0.0
    groups = _DURATION_RE.match(value).groups()
    return float(sum(int(part) * unit for part, unit in zip(groups, _DURATION_UNITS) if part))


# '<file>: [<line>:<col>: ...]group "<g>", rule <n>, "<name>": <message>'
_RULE_LINE = re.compile(r'^(?P<file>/[^:]*?): (?:\d+:\d+: )*group "(?P<group>[^"]*)", rule (?P<index>\d+), '
                        r'"(?P<rule>[^"]*)": (?P<message>.*)$')
_GROUP_LINE = re.compile(r'^(?P<file>/[^:]*?): (?:\d+:\d+: )*(?P<message>groupname: "(?P<group>[^"]*)".*)$')
_FILE_LINE = re.compile(r'^(?P<file>/[^:]*?): (?P<message>.+)$')
_CONFIG_LINE = re.compile(r'^\s*FAILED: (?P<message>(?:parsing YAML file |)(?P<file>/[^:]*?)[: ].*)$')
_WEB_LINE = re.compile(r'^(?P<file>/\S+) FAILED: (?P<message>.*)$')
# check web-config reports a good file on standard error too.
_WEB_OK = re.compile(r'^/\S+ SUCCESS$')


def _result(file=None, group=None, rule=None, message="", level="error"):
    return {"file": file, "group": group, "rule": rule, "message": message.strip(), "level": level}


def parse_check_output(stdout, stderr, paths=()):
    """Findings of ``promtool check config|rules|web-config`` as a list of result dicts."""
    results = []
    known = [os.path.abspath(p) for p in paths]
    lint_block = []
    for raw in (stderr or "").splitlines():
        line = raw.rstrip()
        if not line.strip() or line.strip() == "FAILED:" or _WEB_OK.match(line):
            continue
        match = _RULE_LINE.match(line)
        if match:
            results.append(_result(match["file"], match["group"], match["rule"], match["message"]))
            continue
        match = _GROUP_LINE.match(line)
        if match:
            results.append(_result(match["file"], match["group"], None, match["message"]))
            continue
        match = _WEB_LINE.match(line)
        if match:
            results.append(_result(match["file"], None, None, match["message"]))
            continue
        match = _CONFIG_LINE.match(line)
        if match:
            results.append(_result(match["file"], None, None, match["message"]))
            continue
        match = _FILE_LINE.match(line)
        if match and (not known or match["file"] in known or os.path.exists(match["file"])):
            results.append(_result(match["file"], None, None, match["message"]))
            continue
        if line.startswith("lint error") or lint_block:
            # Lint findings (duplicate rules) span several lines and exit 0: a warning.
            lint_block.append(line.strip())
            continue
        results.append(_result(None, None, None, line))
    if lint_block:
        results.append(_result(None, None, None, " ".join(lint_block), level="warning"))
    return results


_TEST_FILE = re.compile(r"^Unit Testing:\s+(?P<file>\S.*)$")
_TEST_NAME = re.compile(r"^\s+name: (?P<name>.*),\s*$")
_TEST_ALERT = re.compile(r"^\s+alertname: (?P<alert>[^,]*), time: (?P<time>[^,]*),")
_TEST_EXPR = re.compile(r'^\s+expr: "(?P<expr>.*)", time: (?P<time>[^,]*),')


def parse_test_output(stdout, stderr, paths=()):
    """Findings of ``promtool test rules`` for ONE test file (callers run failing files singly).

    Each failing alert_rule_test / promql_expr_test becomes a result whose
    ``rule`` is the alertname (or expression), ``test`` the test's name and
    ``message`` the tool's exp/got text. Rule-file errors are parsed as for
    check rules.
    """
    test_file = None
    for line in (stdout or "").splitlines():
        match = _TEST_FILE.match(line)
        if match:
            test_file = match["file"].strip()
    if test_file is None and len(paths) == 1:
        test_file = os.path.abspath(paths[0])
    results = []
    current = None
    test_name = None
    leftovers = []
    for raw in (stderr or "").splitlines():
        line = raw.rstrip()
        if not line.strip() or line.strip() == "FAILED:":
            continue
        match = _RULE_LINE.match(line) or _GROUP_LINE.match(line)
        if match:
            entry = _result(match["file"], match["group"], match.groupdict().get("rule"), match["message"])
            if entry not in results:  # promtool repeats rule-file errors per test group
                results.append(entry)
            current = None
            continue
        match = _TEST_NAME.match(line)
        if match:
            test_name = match["name"].strip()
            current = None
            continue
        match = _TEST_ALERT.match(line) or _TEST_EXPR.match(line)
        if match:
            what = match.groupdict().get("alert") or match.groupdict().get("expr")
            current = _result(test_file, None, what, "", level="error")
            current["test"] = test_name
            current["eval_time"] = match["time"].strip()
            current["diff"] = line.strip()
            results.append(current)
            continue
        if current is not None:
            current["diff"] += "\n" + line.strip()
            continue
        leftovers.append(line.strip())
    for entry in results:
        if "diff" in entry:
            entry["message"] = "test %r: %s at %s: expected and got differ:\n%s" % (
                entry["test"], entry["rule"], entry["eval_time"], entry["diff"])
    if leftovers:
        results.append(_result(test_file, None, None, "\n".join(leftovers)))
    return results


def parse_test_warnings(stderr):
    """WARNING lines of promtool test rules (e.g. a rule_files pattern matching nothing)."""
    return [line.strip()[len("WARNING: "):] for line in (stderr or "").splitlines()
            if line.strip().startswith("WARNING: ")]


# ---------------------------------------------------------------------------
# Bare PromQL expressions (dashboard panels)
# ---------------------------------------------------------------------------

# Grafana's built-in interval variables: a duration wherever they appear.
_DURATION_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__auto": "1m"}
# Numeric built-ins (milliseconds/seconds and epoch bounds).
_NUMBER_VARS = {"__interval_ms": "60000", "__range_s": "3600", "__range_ms": "3600000",
                "__from": "0", "__to": "3600000"}
_VAR_AT = re.compile(r"\$\{(?P<b>\w+)(?::[^}]*)?\}|\[\[(?P<s>\w+)(?::[^\]]*)?\]\]|\$(?P<p>\w+)")
_GROUPING_WORDS = ("by", "without", "on", "ignoring", "group_left", "group_right")
# What stands in for an ordinary template variable, by where it appears.
LABEL_VALUE = "grafana_var"
LABEL_NAME = "grafana_var"
DURATION = "5m"
NUMBER = "1"


def substitute_grafana_vars(expr):
    """Replace Grafana template variables so the real PromQL parser can check ``expr``.

    Built-in interval variables become durations; any other variable becomes
    a label value inside quotes, a duration inside [...], a label name inside
    by/without/on/ignoring/group_* lists, and a number elsewhere.
    """
    out = []
    stack = []  # '[' , '(' or 'g' (grouping list)
    quote = None
    i = 0
    while i < len(expr):
        char = expr[i]
        if quote:
            if char == "\\" and i + 1 < len(expr):
                out.append(expr[i:i + 2])
                i += 2
                continue
            if char == quote:
                quote = None
        elif char in "\"'`":
            quote = char
        match = _VAR_AT.match(expr, i) if char in "$[" else None
        if match:
            name = match["b"] or match["s"] or match["p"]
            out.append(_stand_in(name, quote, stack))
            i = match.end()
            continue
        if not quote:
            if char == "[":
                stack.append("[")
            elif char == "(":
                word = re.search(r"(\w+)\s*$", "".join(out))
                stack.append("g" if word and word.group(1).lower() in _GROUPING_WORDS else "(")
            elif char in ")]" and stack:
                stack.pop()
        out.append(char)
        i += 1
    return "".join(out)


def _stand_in(name, quote, stack):
    if name in _DURATION_VARS:
        return _DURATION_VARS[name]
    if name in _NUMBER_VARS:
        return _NUMBER_VARS[name]
    if quote:
        return LABEL_VALUE
    if stack and stack[-1] == "[":
        return DURATION
    if stack and stack[-1] == "g":
        return LABEL_NAME
    return NUMBER


EXPRESSIONS_GROUP = "vpsmon_expression_check"


def _rule_name(index):
    return "vpsmon_expression_%d" % index


def expressions_rule_file(expressions):
    """Rule-file text wrapping each expression as a recording rule, and the name map.

    Returns (text, {rule name: (expression name, substituted expr)}). JSON is
    valid YAML, so the file needs no YAML library and cannot be mis-quoted.
    """
    rules = []
    names = {}
    for index, item in enumerate(expressions):
        expr = substitute_grafana_vars(str(item["expr"]))
        rule = _rule_name(index)
        names[rule] = (item["name"], expr)
        rules.append({"record": rule, "expr": expr})
    text = json.dumps({"groups": [{"name": EXPRESSIONS_GROUP, "rules": rules}]}, indent=2)
    return text, names


def check_expressions(runner, expressions, scratch_dir=None):
    """Parse every {name, expr} with the real promtool.

    Returns (results, tool_result); each result names the expression (``rule``
    is the expression's name) and carries the tool's parse error plus the
    substituted expression that was parsed.
    """
    if not expressions:
        return [], None
    text, names = expressions_rule_file(expressions)
    if scratch_dir:
        os.makedirs(scratch_dir, exist_ok=True)
    tmpdir = tempfile.mkdtemp(prefix="vpsmon-promql-", dir=scratch_dir)
    try:
        # World-readable: the tool runs as nobody; expressions are not secret.
        os.chmod(tmpdir, 0o755)
        path = os.path.join(tmpdir, "expressions.rules.yml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, 0o644)
        outcome = runner.run(["check", "rules", "--lint=none", path], paths=[path])
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    results = []
    for entry in parse_check_output(outcome.stdout, outcome.stderr, [path]):
        mapped = names.get(entry["rule"])
        if mapped:
            entry["rule"] = mapped[0]
            entry["expr"] = mapped[1]
            entry["message"] = "%s (parsed as: %s)" % (entry["message"], mapped[1])
        entry["file"] = None
        entry["group"] = None
        results.append(entry)
    if outcome.rc != 0 and not any(r["level"] == "error" for r in results):
        results.append(_result(None, None, None, (outcome.stderr or outcome.stdout).strip()))
    return results, outcome


CHECK_ARGS = {
    "config": ["check", "config"],
    "rules": ["check", "rules"],
    "web_config": ["check", "web-config"],
    "test_rules": ["test", "rules"],
}


def check_files(runner, check, paths, extra_mounts=()):
    """Run one promtool check over ``paths``; returns (results, tool_result).

    test_rules failures are re-run file by file so each finding names its
    test file (promtool's streams do not say which file a failure belongs to).
    """
    paths = [os.path.abspath(p) for p in paths]
    mounts = list(paths) + list(extra_mounts)
    outcome = runner.run(CHECK_ARGS[check] + paths, paths=mounts)
    if check != "test_rules":
        results = parse_check_output(outcome.stdout, outcome.stderr, paths)
        if outcome.rc != 0 and not any(r["level"] == "error" for r in results):
            results.append(_result(paths[0] if len(paths) == 1 else None, None, None,
                                   (outcome.stderr or outcome.stdout).strip() or "exit code %d" % outcome.rc))
        return results, outcome
    warnings = [_result(None, None, None, w, level="warning") for w in parse_test_warnings(outcome.stderr)]
    if outcome.rc == 0:
        return warnings, outcome
    results = []
    singles = [(p, runner.run(CHECK_ARGS[check] + [p], paths=[p] + list(extra_mounts))) for p in paths] \
        if len(paths) > 1 else [(paths[0], outcome)]
    for path, single in singles:
        if single.rc == 0:
            continue
        found = [r for r in parse_test_output(single.stdout, single.stderr, [path]) if r["level"] == "error"]
        if not found:
            found = [_result(path, None, None, (single.stderr or single.stdout).strip())]
        results.extend(found)
    return results + warnings, outcome
