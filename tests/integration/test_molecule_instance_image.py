"""The default scenario's instance image follows the images path (issue 17).

molecule/default/create.yml asks tasks/instance_image.yml which image the
instance runs: on the offline path the platform's image (the offline
vps-monitoring/python-base), on the upstream path one built from
molecule/default/instance/Dockerfile, FROM the official Debian image. The
upstream image cannot be pulled here, so its choice is checked as rendered;
the offline path runs create.yml for real against this machine's engine,
with a platform of this test's own (vpsmon-it-hd-instance), twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "molecule" / "default"
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
INSTANCE = "vpsmon-it-hd-instance"


def _env(images: str | None, **extra: str) -> dict:
    # localhost runs modules with this Python, as Molecule's inventory has it.
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
           **extra}
    env.pop("VPSMON_IMAGES", None)
    if images is not None:
        env["VPSMON_IMAGES"] = images
    return env


def _resolve(tmp_path: Path, images: str | None, record: dict | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    project = tmp_path / "project"
    (project / ".cache").mkdir(parents=True)
    if record is not None:
        (project / ".cache" / "images-path.json").write_text(json.dumps(record))
    out = tmp_path / "instance.json"
    play = tmp_path / "resolve.yml"
    play.write_text(f"""---
- name: Resolve the instance image
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    vpsmon_project_dir: "{project}"
    vpsmon_scenario_dir: "{SCENARIO}"
  tasks:
    - name: Decide
      ansible.builtin.include_tasks: "{SCENARIO}/tasks/instance_image.yml"
    - name: Write the decision
      ansible.builtin.copy:
        content: "{{{{ vpsmon_instance | to_json }}}}"
        dest: "{out}"
        mode: "0644"
""")
    result = subprocess.run([str(PLAYBOOK), "-i", "localhost,", str(play)], env=_env(images),
                            capture_output=True, text=True, check=False, timeout=300)
    return result, (json.loads(out.read_text()) if out.exists() else {})


def _dockerfile_base(dockerfile: Path) -> str:
    text = dockerfile.read_text()
    arg = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    base = re.search(r"^FROM (\S+)$", text, re.M).group(1)
    return re.sub(r"\$\{(\w+)\}", lambda m: arg[m.group(1)], base)


def test_upstream_choice_resolves_to_the_upstream_dockerfile(tmp_path):
    result, chosen = _resolve(tmp_path, "upstream")
    assert result.returncode == 0, result.stdout[-3000:]
    dockerfile = SCENARIO / "instance" / "Dockerfile"
    assert chosen["path"] == "upstream" and chosen["why"] == "VPSMON_IMAGES=upstream"
    assert chosen["dockerfile"] == str(dockerfile) and chosen["context"] == str(dockerfile.parent)
    tag = hashlib.sha256(dockerfile.read_bytes().rstrip(b"\n")).hexdigest()[:12]
    assert chosen["image"] == f"vpsmon-molecule/instance:{tag}", chosen
    # An official upstream image, not one of the offline builds, with what
    # the collection needs on a managed host.
    base = _dockerfile_base(dockerfile)
    assert base.split(":")[0] in {"debian", "python"} and not base.startswith("vps-monitoring/"), base
    assert re.search(r"apt-get install .*\bpython3 python3-docker\b", dockerfile.read_text())


def test_the_recorded_probe_answer_decides_when_not_forced(tmp_path):
    reason = "registry: yes (4 default images resolve, e.g. prom/prometheus:v3.5.0)"
    result, chosen = _resolve(tmp_path, None, {"path": "upstream", "reason": reason})
    assert result.returncode == 0, result.stdout[-3000:]
    assert chosen["path"] == "upstream" and chosen["why"] == reason
    assert chosen["image"].startswith("vpsmon-molecule/instance:")


@pytest.mark.parametrize("record", [None, {"path": "offline", "reason": "registry: no (...)"}],
                         ids=["no-record", "recorded-offline"])
def test_offline_choice_keeps_the_platform_image(tmp_path, record):
    result, chosen = _resolve(tmp_path, None, record)
    assert result.returncode == 0, result.stdout[-3000:]
    assert chosen["path"] == "offline" and chosen["image"] == "" and chosen["dockerfile"] == ""


def test_an_unknown_path_fails_naming_the_variable(tmp_path):
    result, chosen = _resolve(tmp_path, "dockerhub")
    assert result.returncode != 0 and chosen == {}
    assert "The images path is 'dockerhub' (VPSMON_IMAGES=dockerhub): set VPSMON_IMAGES" in result.stdout


def _create(tmp_path: Path, image: str) -> subprocess.CompletedProcess:
    variables = {
        "molecule_scenario_directory": str(SCENARIO),
        "molecule_yml": {"platforms": [{"name": INSTANCE, "image": image, "command": "sleep infinity",
                                        "volumes": ["/var/run/docker.sock:/var/run/docker.sock"]}]},
    }
    extra = tmp_path / "molecule-vars.json"
    extra.write_text(json.dumps(variables))
    return subprocess.run([str(PLAYBOOK), "-i", "localhost,", "-e", f"@{extra}", str(SCENARIO / "create.yml")],
                          env=_env("offline", MOLECULE_PROJECT_DIRECTORY=str(ROOT)),
                          capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture
def instance():
    subprocess.run(["docker", "rm", "-f", INSTANCE], capture_output=True, check=False)
    yield INSTANCE
    subprocess.run(["docker", "rm", "-f", INSTANCE], capture_output=True, check=False)


def test_offline_create_starts_the_instance_idempotently(tmp_path, instance):
    # The scenario's own platform image: the offline python-base.
    image = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["platforms"][0]["image"]
    first = _create(tmp_path, image)
    assert first.returncode == 0, first.stdout[-3000:]
    assert "offline path" in first.stdout
    assert re.search(r"localhost\s+:\s+ok=\d+\s+changed=1\s", first.stdout), first.stdout[-1500:]
    second = _create(tmp_path, image)
    assert re.search(r"localhost\s+:\s+ok=\d+\s+changed=0\s", second.stdout), second.stdout[-1500:]
    inspect = json.loads(subprocess.run(["docker", "inspect", instance], capture_output=True, text=True,
                                        check=True).stdout)[0]
    assert inspect["Config"]["Image"] == image and inspect["State"]["Running"]
    assert inspect["Config"]["Labels"]["owner"] == "molecule"
    # What a managed host needs: python3 and the Docker SDK talking to the engine.
    ping = subprocess.run(["docker", "exec", instance, "python3", "-c",
                           "import docker; print(docker.from_env().ping())"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert ping.stdout.strip() == "True", ping.stderr


def test_offline_create_without_the_image_fails_naming_it(tmp_path, instance):
    first = _create(tmp_path, "vps-monitoring/not-built:0")
    assert first.returncode != 0
    assert "vps-monitoring/not-built:0 is not on this engine: build the offline images first" in first.stdout
    gone = subprocess.run(["docker", "inspect", instance], capture_output=True, check=False)
    assert gone.returncode != 0, "an instance was started without its image"
