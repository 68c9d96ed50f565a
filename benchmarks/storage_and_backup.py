# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bytes per sample, Prometheus vs VictoriaMetrics, and backup/restore wall time.

A day-equivalent of samples (--series series scraped every 15 s for 24 h,
ending 3 h ago; a mix like the stack's own: counters, gauges, constants) is
written as OpenMetrics and backfilled:

- into Prometheus: ``promtool tsdb create-blocks-from openmetrics`` into the
  data directory of a stack of the benchmark's own (containers
  vpsmon-bench-st-*, deployed by playbooks/site.yml with VictoriaMetrics on);
- into VictoriaMetrics: ``vmctl prometheus`` from the same blocks, the
  migration path the README documents.

Prints disk bytes per sample of each, their memory (RSS) after a query over
the whole day, then the wall time of playbooks/backup.yml and of
playbooks/restore.yml (onto an empty stack directory) for that data, and
checks that the restored Prometheus answers the same sample count.
Removes everything it created.

    .venv/bin/python benchmarks/storage_and_backup.py [--series 1000]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import docker
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from conftest import wait_until  # noqa: E402
from stack_run import api, free_port, isolated_vars, ok, remove_stack, run_playbook  # noqa: E402

PREFIX = "vpsmon-bench-st"
STEP = 15
DAY = 86400


def write_openmetrics(path: Path, series: int, start: int) -> int:
    """A day of samples for series series; returns the sample count."""
    rng = random.Random(14)
    kinds = ["counter"] * 4 + ["gauge"] * 4 + ["constant"] * 2
    steps = DAY // STEP
    with path.open("w") as out:
        for metric in range(0, series, 10):
            kind = kinds[(metric // 10) % len(kinds)]
            name = f"vpsmon_bench_{kind}_{metric // 10}"
            out.write(f"# TYPE {name} {'counter' if kind == 'counter' else 'gauge'}\n")
            for index in range(metric, min(metric + 10, series)):
                labels = f'{{instance="host-{index % 7}",series="{index}"}}'
                value = rng.uniform(0, 1000)
                series_name = name + ("_total" if kind == "counter" else "")
                for step in range(steps):
                    if kind == "counter":
                        value += rng.randint(0, 50)
                        text = str(int(value))
                    elif kind == "gauge":
                        value = max(0.0, value + rng.uniform(-5, 5))
                        text = f"{value:.2f}"
                    else:
                        text = "1"
                    out.write(f"{series_name}{labels} {text} {start + step * STEP}\n")
        out.write("# EOF\n")
    return series * steps


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def rss_of(container) -> float:
    stats = container.stats(stream=False)
    return stats["memory_stats"].get("usage", 0) - stats["memory_stats"].get("stats", {}).get("inactive_file", 0)


def merges_done(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    active = re.findall(r"^vm_active_(?:force_)?merges(?:\{[^}]*\})? (\S+)$", text, re.M)
    return bool(active) and all(float(v) == 0 for v in active)


def count_samples(url: str, end: int) -> int:
    query = 'sum(count_over_time({__name__=~"vpsmon_bench_.+"}[1d]))'
    result = api(url, "/api/v1/query", query=query, time=str(end))["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--series", type=int, default=1000)
    args = parser.parse_args()

    images = yaml.safe_load((ROOT / ".cache" / "images.yml").read_text())
    client = docker.from_env()
    work = Path(tempfile.mkdtemp(prefix="vpsmon-bench-st-"))
    old, new, backups = work / "old", work / "new", work / "backups"
    for path in (old, new, backups):
        path.mkdir()
    end = int(time.time()) - 3 * 3600
    end -= end % 7200
    start = end - DAY
    remove_stack(client, PREFIX)
    try:
        began = time.monotonic()
        total = write_openmetrics(work / "day.om", args.series, start)
        print(f"generated {total} samples ({args.series} series x {DAY // STEP}) in {time.monotonic() - began:.1f} s")

        began = time.monotonic()
        made = subprocess.run(
            ["docker", "run", "--rm", "--user", "0", "-v", f"{work}:{work}", "-w", str(work), "--entrypoint", "/bin/promtool",
             images["prometheus_image"], "tsdb", "create-blocks-from", "openmetrics",
             "--max-block-duration=24h", "day.om", "blocks"], capture_output=True, text=True, check=False)
        if made.returncode != 0:
            sys.exit(made.stderr)
        (work / "day.om").unlink()
        prom_bytes = du(work / "blocks")
        print(f"promtool backfill: {time.monotonic() - began:.1f} s")

        variables = isolated_vars(PREFIX, old, images, stack_enable_victoriametrics=True,
                                  victoriametrics_image=images["victoriametrics_image"],
                                  victoriametrics_port=free_port(), backup_dir=str(backups))
        prom = f"http://127.0.0.1:{variables['prometheus_port']}"
        vm = f"http://127.0.0.1:{variables['victoriametrics_port']}"
        # The blocks are in the TSDB before Prometheus first opens it.
        (old / "prometheus" / "data").mkdir(parents=True)
        shutil.copytree(work / "blocks", old / "prometheus" / "data", dirs_exist_ok=True)
        subprocess.run(["chown", "-R", "65534:65534", str(old / "prometheus")], check=True)
        ok(run_playbook("site.yml", variables))

        vm_before = du(old / "victoriametrics" / "data")
        began = time.monotonic()
        imported = subprocess.run(
            ["docker", "run", "--rm", "--user", "0", "--network", f"{PREFIX}-net", "-v", f"{work}/blocks:/blocks",
             "--entrypoint", "/vmctl-prod", images["victoriametrics_image"], "prometheus", "-s", "--disable-progress-bar",
             "--prom-snapshot=/blocks", f"--vm-addr=http://{PREFIX}-victoriametrics:8428"],
            capture_output=True, text=True, check=False)
        if imported.returncode != 0:
            sys.exit(imported.stdout + imported.stderr)
        print(f"vmctl import: {time.monotonic() - began:.1f} s")
        # Flush in-memory parts and merge, so the disk holds the final form.
        urllib.request.urlopen(f"{vm}/internal/force_flush", timeout=60).read()
        urllib.request.urlopen(f"{vm}/internal/force_merge", timeout=60).read()
        wait_until(lambda: merges_done(vm), 300, what="VictoriaMetrics' merges")
        vm_bytes = du(old / "victoriametrics" / "data") - vm_before

        prom_count = count_samples(prom, end)
        vm_count = count_samples(vm, end)
        print(f"samples answered: Prometheus {prom_count}, VictoriaMetrics {vm_count} (written {total})")
        print(f"disk: Prometheus {prom_bytes / 1e6:.1f} MB = {prom_bytes / total:.2f} bytes/sample; "
              f"VictoriaMetrics {vm_bytes / 1e6:.1f} MB = {vm_bytes / total:.2f} bytes/sample")
        print(f"RSS after a 1-day query: Prometheus {rss_of(client.containers.get(PREFIX + '-prometheus')) / 1e6:.0f} MB, "
              f"VictoriaMetrics {rss_of(client.containers.get(PREFIX + '-victoriametrics')) / 1e6:.0f} MB")

        began = time.monotonic()
        ok(run_playbook("backup.yml", variables))
        backup_seconds = time.monotonic() - began
        archive = sorted(backups.glob("vps-monitoring-*.tar.gz"))[-1]
        print(f"backup.yml: {backup_seconds:.1f} s, archive {archive.stat().st_size / 1e6:.1f} MB")

        remove_stack(client, PREFIX)
        began = time.monotonic()
        ok(run_playbook("restore.yml", dict(variables, stack_base_dir=str(new), restore_archive=str(archive))))
        print(f"restore.yml (onto an empty stack directory, deploy included): {time.monotonic() - began:.1f} s")
        print(f"restored Prometheus answers {count_samples(prom, end)} samples (before: {prom_count})")
    finally:
        remove_stack(client, PREFIX)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
