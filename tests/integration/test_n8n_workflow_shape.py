"""The shipped n8n workflows hold n8n's workflow JSON shape, with or without n8n.

Checks what n8n's import needs and what the collection promises: nodes with
name/type/typeVersion/position/parameters, connections between nodes that
exist, every node reachable from a trigger, the webhook paths Alertmanager
and the hook call, credentials named and never carried, the same PromQL as
playbooks/claude_session_totals.yml, and JavaScript that parses. When the
pinned n8n is installed, each node type and typeVersion is also checked
against the node classes of that n8n.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "roles" / "n8n_workflows" / "files" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.json"))
TRIGGERS = {"n8n-nodes-base.webhook", "n8n-nodes-base.scheduleTrigger"}
# The credentials the role README lists, by n8n credential type.
CREDENTIALS = {"telegramApi": "Telegram bot", "httpHeaderAuth": "Session hook token"}
WEBHOOKS = {"alert-hub.json": {"prometheus/alert", "prometheus/alert/digest"},
            "session-end.json": {"telemetry/session-end"}}
SECRET_KEYS = re.compile(r"(?i)^(password|accesstoken|apikey|api_key|token|secret|privatekey|data)$")


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_both_workflows_are_shipped():
    assert [p.name for p in FILES] == ["alert-hub.json", "session-end.json"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_shape(path):
    wf = load(path)
    assert isinstance(wf["name"], str) and wf["name"]
    assert re.fullmatch(r"[A-Za-z0-9]{1,36}", wf["id"]), "a fixed id, so a re-import updates in place"
    assert wf["active"] is False, "activation is the role's job, not the file's"
    assert wf["settings"]["executionOrder"] == "v1"
    names = [n["name"] for n in wf["nodes"]]
    assert len(names) == len(set(names)), "node names key the connections: they must be unique"
    assert len({n["id"] for n in wf["nodes"]}) == len(names)
    for node in wf["nodes"]:
        assert set(node) >= {"id", "name", "type", "typeVersion", "position", "parameters"}, node["name"]
        uuid.UUID(node["id"])
        assert re.fullmatch(r"n8n-nodes-base\.[A-Za-z]+", node["type"]), node["type"]
        assert isinstance(node["typeVersion"], (int, float)) and node["typeVersion"] >= 1
        assert len(node["position"]) == 2 and all(isinstance(v, (int, float)) for v in node["position"])
        assert isinstance(node["parameters"], dict)
    # Connections: keyed by existing node names, pointing at existing nodes.
    for source, outputs in wf["connections"].items():
        assert source in names, source
        for output in outputs["main"]:
            for link in output:
                assert link["node"] in names and link["type"] == "main" and link["index"] == 0, link
    # Every node runs from some trigger (nothing dangling).
    reached = {n["name"] for n in wf["nodes"] if n["type"] in TRIGGERS}
    frontier = list(reached)
    while frontier:
        for output in wf["connections"].get(frontier.pop(), {}).get("main", []):
            for link in output:
                if link["node"] not in reached:
                    reached.add(link["node"])
                    frontier.append(link["node"])
    assert reached == set(names), set(names) - reached


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_webhooks_and_credentials(path):
    wf = load(path)
    hooks = [n for n in wf["nodes"] if n["type"] == "n8n-nodes-base.webhook"]
    assert {h["parameters"]["path"] for h in hooks} == WEBHOOKS[path.name]
    for hook in hooks:
        assert hook["parameters"]["httpMethod"] == "POST"
        uuid.UUID(hook["webhookId"])
    for node in wf["nodes"]:
        for ctype, ref in node.get("credentials", {}).items():
            # By name only: the import resolves the name to this n8n's credential id.
            assert ref == {"id": None, "name": CREDENTIALS[ctype]}, (node["name"], ref)

    def walk(value, where):
        if isinstance(value, dict):
            for key, inner in value.items():
                if SECRET_KEYS.match(key) and where[-1:] != ["credentials"]:
                    raise AssertionError(f"{path.name}: key {key!r} at {'/'.join(where)} looks like credential data")
                walk(inner, where + [key])
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(inner, where + [str(i)])
    walk(wf, [])


def test_session_end_queries_match_the_totals_playbook():
    """The workflow asks Prometheus what playbooks/claude_session_totals.yml asks."""
    play = yaml.safe_load((ROOT / "playbooks" / "claude_session_totals.yml").read_text())[0]
    task = next(t for t in play["tasks"] if "set_fact" in str(t))
    playbook_text = json.dumps(task)
    code = next(n["parameters"]["jsCode"] for n in load(WORKFLOWS / "session-end.json")["nodes"]
                if n["name"] == "Prometheus queries")
    for metric, by_type in [("claude_code_token_usage_tokens_total", True), ("claude_code_cost_usage_USD_total", False),
                            ("claude_code_active_time_seconds_total", True),
                            ("claude_code_lines_of_code_count_total", True)]:
        form = "sum by (type) (" if by_type else "sum("
        assert f"{form}' ~ _q | replace('METRIC', '{metric}')" in playbook_text.replace('\\"', '"')
        assert f"{form}${{q('{metric}')}})" in code, metric
    assert "max_over_time(METRIC" in play["vars"]["_q"] and "max_over_time(${metric}" in code
    assert play["vars"]["claude_session_lookback"] == "30d" and "|| '30d'" in code


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: JavaScript not parsed")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_code_nodes_parse(path, tmp_path):
    for node in load(path)["nodes"]:
        if node["type"] != "n8n-nodes-base.code":
            continue
        # n8n runs the code as the body of an async function.
        script = tmp_path / "code.js"
        script.write_text("module.exports = async function() {" + node["parameters"]["jsCode"] + "\n}")
        out = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True, check=False)
        assert out.returncode == 0, f"{node['name']}: {out.stderr}"


def test_node_types_exist_in_the_pinned_n8n():
    found = subprocess.run(["bash", str(ROOT / "scripts" / "n8n.sh"), "bin"], capture_output=True, text=True,
                           check=False)
    if found.returncode != 0:
        pytest.skip(f"n8n is not installed here ({found.stderr.strip()}): node versions not checked")
    base = Path(found.stdout.strip()).parents[1] / "n8n-nodes-base"  # node_modules/.bin/n8n
    wanted = {(n["type"].split(".", 1)[1], n["typeVersion"]) for p in FILES for n in load(p)["nodes"]}
    names = sorted({pair[0] for pair in wanted})
    # Load each node class the way n8n does and list the versions it declares.
    script = f"""
const pkg = require({json.dumps(str(base / "package.json"))});
const out = {{}};
for (const file of pkg.n8n.nodes) {{
  const name = file.split('/').pop().replace('.node.js', '');
  const lower = name.charAt(0).toLowerCase() + name.slice(1);
  if (!{json.dumps(names)}.includes(lower)) continue;
  const mod = require({json.dumps(str(base))} + '/' + file);
  const node = new mod[name]();
  const d = node.description;
  const versions = node.nodeVersions ? Object.keys(node.nodeVersions).map(Number) : [].concat(d.version);
  out[d.name] = versions;
}}
console.log(JSON.stringify(out));
"""
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    versions = json.loads(out.stdout.strip().splitlines()[-1])
    for node_type, version in sorted(wanted):
        assert node_type in versions, f"n8n has no node {node_type}"
        assert version in versions[node_type], f"{node_type} typeVersion {version} not in {versions[node_type]}"
