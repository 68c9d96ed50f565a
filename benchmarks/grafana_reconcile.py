# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""API calls and wall time to reconcile 50 dashboards against the Grafana API TEST DOUBLE.

Runs vps.monitoring.grafana_dashboard through ansible-playbook (a loop of 50),
three times: first run (all created), unchanged run, one dashboard changed.
The double counts every call it receives. Usage:
    .venv/bin/python benchmarks/grafana_reconcile.py [--count 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from grafana_double import GrafanaDouble  # noqa: E402  (the double lives under tests/)

TOKEN = "glsa_benchmark_token"


def dashboards(count, changed_index=None):
    result = []
    for i in range(count):
        title = "Bench %02d" % i + (" (edited)" if i == changed_index else "")
        result.append({"uid": "bench-%02d" % i, "title": title, "panels": [
            {"id": p, "type": "timeseries", "title": "panel %d" % p,
             "targets": [{"refId": "A", "expr": "rate(node_cpu_seconds_total[5m])"}]} for p in range(8)]})
    return result


def run(workdir, url, docs):
    (workdir / "vars.json").write_text(json.dumps({"docs": docs, "grafana_token": TOKEN}))
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "folder", "vps.monitoring.grafana_folder": {
            "url": url, "token": "{{ grafana_token }}", "uid": "bench", "title": "Bench"}},
        {"name": "dashboards", "vps.monitoring.grafana_dashboard": {
            "url": url, "token": "{{ grafana_token }}", "dashboard": "{{ item }}", "folder_uid": "bench"},
         "loop": "{{ docs }}", "loop_control": {"label": "{{ item.uid }}"}, "register": "out"},
        {"name": "count", "ansible.builtin.debug": {
            "msg": "CHANGED={{ out.results | selectattr('changed') | list | length }}"}}]}]
    (workdir / "play.json").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    start = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                           "-e", "@" + str(workdir / "vars.json"), str(workdir / "play.json")],
                          capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode:
        sys.exit(proc.stdout[-3000:] + proc.stderr[-2000:])
    changed = int(proc.stdout.split("CHANGED=")[1].split('"')[0])
    return elapsed, changed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    double = GrafanaDouble(tokens=[TOKEN]).start()
    print("Reconciling %d dashboards against the Grafana API TEST DOUBLE (not Grafana) at %s"
          % (args.count, double.url))
    print("%-22s %8s %10s %8s %8s  %s" % ("run", "changed", "API calls", "GETs", "POSTs", "wall time"))
    try:
        with tempfile.TemporaryDirectory(prefix="vpsmon-bench-") as tmp:
            for label, docs in (("first run", dashboards(args.count)),
                                ("unchanged run", dashboards(args.count)),
                                ("one dashboard changed", dashboards(args.count, changed_index=7))):
                double.state.calls.clear()
                elapsed, changed = run(Path(tmp), double.url, docs)
                calls = double.state.calls
                gets = sum(v for k, v in calls.items() if k.startswith("GET"))
                posts = sum(v for k, v in calls.items() if k.startswith("POST"))
                row = (label, changed, sum(calls.values()), gets, posts, elapsed)
                print("%-22s %8d %10d %8d %8d  %.2fs" % row)
    finally:
        double.stop()


if __name__ == "__main__":
    main()
