"""The default Molecule scenario takes a user's own variables file.

README ("Testing your own inventory"): ``VPSMON_USER_VARS=/path/group_vars.yml
molecule test -s default`` runs the collection's scenario with the user's
variables. ``molecule syntax`` renders the scenario's config and runs
ansible-playbook with it, without creating anything, in an ephemeral
directory of its own (the lead's Molecule runs keep theirs).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MOLECULE = Path(sys.executable).parent / "molecule"


def _syntax(tmp_path: Path, user_vars: Path | None) -> subprocess.CompletedProcess:
    # --debug prints the ansible-playbook command ("SHELL REPLAY") only in
    # Molecule's coloured output, so colours stay on and are stripped here;
    # a wide console keeps long paths on one line.
    env = {**os.environ, "COLUMNS": "1000", "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "ephemeral"),
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections")}
    env.pop("VPSMON_USER_VARS", None)
    if user_vars is not None:
        env["VPSMON_USER_VARS"] = str(user_vars)
    return subprocess.run([str(MOLECULE), "--debug", "syntax", "-s", "default"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=300)


def _extra_vars_args(output: str) -> list[str]:
    """The extra-vars files of the ansible-playbook command, in order."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return re.findall(r"(?:-e|--extra-vars) @(\S+?\.yml)", plain)


@pytest.mark.parametrize("given", [False, True], ids=["unset", "user-file"])
def test_scenario_renders_with_and_without_user_vars(tmp_path, given):
    user_vars = None
    if given:
        user_vars = tmp_path / "group_vars.yml"
        user_vars.write_text("---\nprometheus_retention_time: 7d\nalertmanager_group_wait: 10s\n")
    result = _syntax(tmp_path, user_vars)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    files = _extra_vars_args(out)
    expected_first = str(user_vars) if given else "vars/user-vars.none.yml"
    # The user's file first, then .cache/images.yml, which must win.
    assert files[:2] == [expected_first, str(ROOT / ".cache" / "images.yml")], files


def test_a_user_file_that_is_not_a_mapping_fails_naming_it(tmp_path):
    bad = tmp_path / "not-a-mapping.yml"
    bad.write_text("---\n- a list, not variables\n")
    result = _syntax(tmp_path, bad)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    assert "Invalid extra vars" in out and "not-a-mapping.yml" in out, out[-3000:]
