"""read_files: several host files in one run, the missing ones named, nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def run(args: dict, *flags: str) -> dict:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", "-m", "vps.monitoring.read_files",
         "-a", json.dumps(args), *flags], capture_output=True, text=True, env=env, check=False)
    return json.loads(out.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_reads_present_files_and_names_missing_ones_in_check_mode_too(tmp_path):
    (tmp_path / "token").write_text("s3cret\n")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nx\n")
    paths = [str(tmp_path / "token"), str(tmp_path / "absent"), str(tmp_path / "ca.crt")]
    for flags in ((), ("--check",)):
        result = run({"paths": paths}, *flags)
        assert not result["changed"]
        assert result["files"] == {paths[0]: "s3cret\n", paths[2]: "-----BEGIN CERTIFICATE-----\nx\n"}
        assert result["missing"] == [paths[1]]


def test_refuses_a_directory_and_a_file_over_the_limit(tmp_path):
    (tmp_path / "big").write_text("x" * 100)
    assert "not a regular file" in run({"paths": [str(tmp_path)]})["msg"]
    result = run({"paths": [str(tmp_path / "big")], "max_bytes": 10})
    assert result.get("failed") and "more than max_bytes=10" in result["msg"]
