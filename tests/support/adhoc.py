"""Run one module of the collection through `ansible` (ad hoc, on localhost) and return its result."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_module(module: str, args: dict, *flags: str, timeout: int = 180) -> dict:
    """The module's result as the json callback records it (failed, msg, changed, ...)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=%s" % (ROOT / ".venv" / "bin" / "python"),
         "-m", module, "-a", json.dumps(args), *flags],
        capture_output=True, text=True, env=env, check=False, timeout=timeout)
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
