"""Registry detection (issue 17): the probe and scripts/lib.sh's path choice.

The "no" answer is tested here, on this machine's real engine, which reaches
no registry; the "yes" answer on molecule/vps's instance, whose engine has
the registry mirror (molecule/vps/tasks/verify_registry_probe.yml). The
path choice of scripts/lib.sh (``images_path``) prints the path and why
without building; ``ensure_images`` writes the images file and
images-path.json into a temporary directory (VPSMON_IMAGES_FILE), so the
project's own .cache/images.yml is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "scripts" / "registry_probe.py"
LIB = ROOT / "scripts" / "lib.sh"
OFFLINE_CHOICES = {"stack_otel_implementation", "otel_collector_receiver_base_image", "grafana_optional"}


def _probe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True,
                          check=False, timeout=120)


def _lib(function: str, tmp_path: Path, images: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "VPSMON_IMAGES_FILE": str(tmp_path / "images.yml")}
    env.pop("VPSMON_IMAGES", None)
    if images is not None:
        env["VPSMON_IMAGES"] = images
    return subprocess.run(["bash", "-c", f'source "{LIB}" && {function}'], env=env, capture_output=True,
                          text=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def defaults() -> list[str]:
    listed = _probe("--list-defaults")
    assert listed.returncode == 0, listed.stderr
    images = json.loads(listed.stdout)
    # The roles' defaults, as the roles' defaults files name them.
    core = yaml.safe_load((ROOT / "roles/prometheus/defaults/main/core.yml").read_text())
    assert images[0] == core["prometheus_image"]
    assert len(images) == 4 and all("/" in i or ":" in i for i in images), images
    return images


@pytest.fixture(scope="module")
def engine_error(defaults) -> str:
    """The engine's own answer for the first default image, asked through the Docker SDK."""
    client = docker.APIClient(base_url="unix:///var/run/docker.sock")
    try:
        client.inspect_distribution(defaults[0])
    except docker.errors.APIError as exc:
        return str(exc.explanation)
    finally:
        client.close()
    pytest.skip("this machine's engine resolves %s: a registry answers here, so the 'no' answer "
                "cannot be tested on it (the vps scenario tests 'yes')" % defaults[0])


def test_probe_answers_no_naming_the_image_and_the_engine_error(defaults, engine_error):
    result = _probe("--json")
    assert result.returncode == 1, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["registry"] == "no" and answer["path"] == "offline", answer
    assert answer["image"] == defaults[0] and answer["images"] == defaults
    assert answer["reason"].startswith(defaults[0] + ": "), answer
    assert engine_error.strip()[:200] in answer["reason"], (engine_error, answer)

    line = _probe()
    assert line.returncode == 1
    assert line.stdout.startswith("registry: no (%s: " % defaults[0]), line.stdout
    assert line.stdout.rstrip().endswith("): building the offline images"), line.stdout


def test_probe_answers_no_when_no_engine_answers(tmp_path, defaults):
    socket = tmp_path / "no-engine.sock"
    result = _probe("--json", "--socket", str(socket))
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["registry"] == "no" and str(socket) in answer["reason"], answer


def test_images_path_prints_the_probe_answer_and_builds_nothing(tmp_path, defaults, engine_error):
    result = _lib("images_path; echo chosen=$IMAGES_PATH", tmp_path, None)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("images: offline path (registry: no (%s: " % defaults[0]), first
    assert engine_error.strip()[:100] in first
    assert "chosen=offline" in result.stdout
    assert list(tmp_path.iterdir()) == [], "images_path wrote files"


@pytest.mark.parametrize("forced", ["upstream", "offline"])
def test_images_path_forced_skips_the_probe(tmp_path, forced):
    result = _lib("images_path", tmp_path, forced)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"images: {forced} path (VPSMON_IMAGES={forced}, registry not probed)"


def test_images_path_refuses_an_unknown_value(tmp_path):
    result = _lib("images_path", tmp_path, "dockerhub")
    assert result.returncode == 2
    assert "VPSMON_IMAGES is 'dockerhub': set it to upstream or offline" in result.stderr


def test_offline_path_builds_and_writes_the_offline_choices(tmp_path, defaults, engine_error):
    # Unforced: the probe says no here, so the offline images (cached by
    # version: nothing is rebuilt when current) and the offline choices.
    result = _lib("ensure_images", tmp_path, None)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "images: offline path (registry: no (%s: " % defaults[0] in result.stdout
    variables = yaml.safe_load((tmp_path / "images.yml").read_text())
    assert variables["stack_otel_implementation"] == "otlp_receiver"
    assert variables["grafana_optional"] is True
    assert variables["otel_collector_receiver_base_image"] == variables["docker_exporter_base_image"]
    images = {k: v for k, v in variables.items() if k.endswith("_image")}
    assert images and all(v.startswith("vps-monitoring/") for v in images.values()), images
    record = json.loads((tmp_path / "images-path.json").read_text())
    assert record["path"] == "offline" and defaults[0] in record["reason"], record


def test_upstream_path_writes_no_offline_choice_and_builds_nothing(tmp_path):
    result = _lib("ensure_images", tmp_path, "upstream")
    assert result.returncode == 0, result.stderr
    assert "[images]" not in result.stdout + result.stderr, "the offline builder ran"
    variables = yaml.safe_load((tmp_path / "images.yml").read_text())
    assert variables == {}, variables
    assert not OFFLINE_CHOICES & set(variables)
    record = json.loads((tmp_path / "images-path.json").read_text())
    assert record == {"path": "upstream", "reason": "VPSMON_IMAGES=upstream, registry not probed"}
