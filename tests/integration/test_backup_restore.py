"""playbooks/backup.yml and playbooks/restore.yml against a stack of the test's own.

The stack (containers vpsmon-it-bk-*, network vpsmon-it-bk-net) runs the
offline Prometheus image. A backup is taken, the stack is removed with its
whole directory, and restore.yml brings it back into a new, empty
stack_base_dir: the series written before the backup are answered again,
sample for sample, and Grafana's database comes back intact.
"""

from __future__ import annotations

import shutil
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path

import pytest
from conftest import wait_until
from stack_run import isolated_vars, ok, remove_stack, run_playbook, samples

PREFIX = "vpsmon-it-bk"
EXPR = 'up{job="prometheus"}[1m]'


@pytest.fixture(scope="module")
def dirs():
    made = {name: Path(tempfile.mkdtemp(prefix=f"vpsmon-it-bk-{name}-")) for name in ("old", "new", "backups")}
    yield made
    for path in made.values():
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def backed_up(images, docker_client, dirs):
    remove_stack(docker_client, PREFIX)
    variables = isolated_vars(PREFIX, dirs["old"], images, prometheus_scrape_interval="2s",
                              prometheus_scrape_timeout="2s", prometheus_evaluation_interval="2s",
                              backup_dir=str(dirs["backups"]), backup_keep=2)
    url = f"http://127.0.0.1:{variables['prometheus_port']}"
    try:
        ok(run_playbook("site.yml", variables))
        # A Grafana database with a row of its own (Grafana itself is not
        # deployed here; the backup copies whatever database is there).
        grafana_data = dirs["old"] / "grafana" / "data"
        grafana_data.mkdir(parents=True)
        with sqlite3.connect(grafana_data / "grafana.db") as db:
            db.execute("CREATE TABLE dashboard (uid TEXT, title TEXT)")
            db.execute("INSERT INTO dashboard VALUES ('vpsmon-it-bk', 'written before the backup')")
        # Two older archives: only the newest backup_keep (2) stay.
        for day in ("01", "02"):
            (dirs["backups"] / f"vps-monitoring-200001{day}T000000Z.tar.gz").write_bytes(b"old")

        before = wait_until(lambda: len(samples(url, EXPR, time.time())) >= 10 and samples(url, EXPR, time.time()),
                            90, what="ten scrapes of Prometheus itself")
        at = before[-1][0]
        before = samples(url, EXPR, at)

        started = time.monotonic()
        out = ok(run_playbook("backup.yml", variables))
        took = time.monotonic() - started
        yield {"vars": variables, "url": url, "at": at, "before": before, "out": out, "seconds": took}
    finally:
        remove_stack(docker_client, PREFIX)


def test_backup_writes_one_dated_archive_and_keeps_the_last_n(backed_up, dirs):
    archives = sorted(p.name for p in dirs["backups"].glob("vps-monitoring-*.tar.gz"))
    assert len(archives) == 2 and archives[0] == "vps-monitoring-20000102T000000Z.tar.gz", archives
    newest = dirs["backups"] / archives[1]
    assert newest.stat().st_mode & 0o777 == 0o600
    with tarfile.open(newest) as tar:
        names = tar.getnames()
    assert "_backup/manifest.json" in names
    assert "_backup/grafana.db" in names
    assert any(n.startswith("_backup/prometheus/") and n.endswith("/meta.json") for n in names)
    assert "./prometheus/config/prometheus.yml" in names
    # Live data directories are not archived raw: the snapshot stands for them.
    assert not [n for n in names if n.startswith(("./prometheus/data", "./grafana/data"))]
    # The snapshot was moved out of the TSDB, not left behind.
    assert not list((dirs["old"] / "prometheus" / "data" / "snapshots").iterdir())
    print(f"\nbackup wall time: {backed_up['seconds']:.1f} s")


def test_restore_onto_an_empty_stack_directory_answers_the_old_series(backed_up, dirs, docker_client):
    # The old stack is gone: containers, network and its whole directory.
    remove_stack(docker_client, PREFIX)
    shutil.rmtree(dirs["old"])
    archive = sorted(dirs["backups"].glob("vps-monitoring-2*.tar.gz"))[-1]

    started = time.monotonic()
    ok(run_playbook("restore.yml", dict(backed_up["vars"], stack_base_dir=str(dirs["new"]),
                                        restore_archive=str(archive))))
    print(f"\nrestore wall time: {time.monotonic() - started:.1f} s")

    assert samples(backed_up["url"], EXPR, backed_up["at"]) == backed_up["before"]
    with sqlite3.connect(dirs["new"] / "grafana" / "data" / "grafana.db") as db:
        assert db.execute("SELECT title FROM dashboard WHERE uid = 'vpsmon-it-bk'").fetchall() == [
            ("written before the backup",)]
    assert (dirs["new"] / "grafana" / "data" / "grafana.db").stat().st_uid == 472
    assert (dirs["new"] / "prometheus" / "data").stat().st_uid == 65534
    assert not (dirs["new"] / ".restore").exists()


def test_restore_refuses_a_missing_archive_before_changing_anything(backed_up, dirs, docker_client):
    container = docker_client.containers.get(f"{PREFIX}-prometheus")
    proc = run_playbook("restore.yml", dict(backed_up["vars"], stack_base_dir=str(dirs["new"]),
                                            restore_deploy=False))
    assert proc.returncode != 0
    assert "Set restore_archive to the archive written by playbooks/backup.yml" in proc.stdout
    container.reload()
    assert container.status == "running"
