"""Safe upgrades of Prometheus through site.yml, between two local images.

The stack (containers vpsmon-it-upg-*, network vpsmon-it-upg-net) starts on
the offline Prometheus image. Two images built here stand in for new
releases:

- ``labelled``: FROM the offline image plus a label (a different image Id);
  switching prometheus_image to it re-creates the container and the TSDB
  survives, sample for sample;
- ``rejecting``: FROM the offline image with a promtool that rejects every
  configuration. The role validates with the NEW image's promtool
  (prometheus_promtool_image defaults to prometheus_image) before the
  container is touched, so the run fails and the running container is the
  same one, on the same image.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from conftest import wait_until
from stack_run import isolated_vars, ok, remove_stack, run_playbook, samples

PREFIX = "vpsmon-it-upg"
EXPR = 'up{job="prometheus"}[1m]'
REJECTING_PROMTOOL = """#!/bin/sh
echo "vpsmon-it-upg test image: this promtool rejects every configuration" >&2
exit 1
"""


def build(docker_client, base: str, tag: str, dockerfile: str) -> str:
    work = Path(tempfile.mkdtemp(prefix="vpsmon-it-upg-"))
    try:
        (work / "Dockerfile").write_text(f"FROM {base}\n{dockerfile}")
        (work / "promtool").write_text(REJECTING_PROMTOOL)
        docker_client.images.build(path=str(work), tag=tag, rm=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tag


@pytest.fixture(scope="module")
def upgrade_images(images, docker_client):
    base = images["prometheus_image"]
    tags = {
        "labelled": build(docker_client, base, f"{PREFIX}/prometheus:labelled",
                          'LABEL io.vps-monitoring.test="upgrade target"\n'),
        "rejecting": build(docker_client, base, f"{PREFIX}/prometheus:rejecting",
                           "USER root\nCOPY promtool /bin/promtool\nRUN chmod 0755 /bin/promtool\nUSER nobody\n"),
    }
    yield tags
    for tag in tags.values():
        docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def stack(images, docker_client):
    base = Path(tempfile.mkdtemp(prefix="vpsmon-it-upg-stack-"))
    remove_stack(docker_client, PREFIX)
    variables = isolated_vars(PREFIX, base, images, prometheus_scrape_interval="2s",
                              prometheus_scrape_timeout="2s", prometheus_evaluation_interval="2s")
    try:
        ok(run_playbook("site.yml", variables))
        yield {"vars": variables, "url": f"http://127.0.0.1:{variables['prometheus_port']}"}
    finally:
        remove_stack(docker_client, PREFIX)
        shutil.rmtree(base, ignore_errors=True)


def scraped(url):
    found = wait_until(lambda: len(samples(url, EXPR, time.time())) >= 5 and samples(url, EXPR, time.time()),
                       90, what="five scrapes of Prometheus itself")
    return found[-1][0], found


def test_upgrade_to_a_new_image_keeps_the_data(stack, upgrade_images, docker_client):
    old = docker_client.containers.get(f"{PREFIX}-prometheus")
    at, _unused = scraped(stack["url"])
    before = samples(stack["url"], EXPR, at)

    ok(run_playbook("site.yml", dict(stack["vars"], prometheus_image=upgrade_images["labelled"])))

    new = docker_client.containers.get(f"{PREFIX}-prometheus")
    assert new.id != old.id
    assert new.attrs["Config"]["Image"] == upgrade_images["labelled"]
    assert samples(stack["url"], EXPR, at) == before


def test_an_image_whose_promtool_rejects_the_config_is_refused_before_the_container_changes(
        stack, upgrade_images, docker_client):
    running = docker_client.containers.get(f"{PREFIX}-prometheus")
    proc = run_playbook("site.yml", dict(stack["vars"], prometheus_image=upgrade_images["rejecting"]))
    assert proc.returncode != 0
    assert "this promtool rejects every configuration" in proc.stdout
    # The failure is the validation task's: no container task ran.
    failed = proc.stdout[proc.stdout.index("fatal:") - 600:proc.stdout.index("fatal:")]
    assert "Validate the staged configuration and rules with promtool" in failed
    after = docker_client.containers.get(f"{PREFIX}-prometheus")
    assert after.id == running.id
    assert after.attrs["Config"]["Image"] == running.attrs["Config"]["Image"]
    assert after.attrs["State"]["StartedAt"] == running.attrs["State"]["StartedAt"]
    assert after.status == "running"
