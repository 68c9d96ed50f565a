"""vps.monitoring.directories through Ansible: check mode, creation, correction, idempotence, refusal."""

from __future__ import annotations

import stat

from support.adhoc import run_module


def run(args: dict, *flags: str) -> dict:
    return run_module("vps.monitoring.directories", args, *flags, timeout=120)


def test_creates_corrects_and_then_changes_nothing(tmp_path):
    top, data = tmp_path / "stack", tmp_path / "stack" / "data"
    args = {"directories": [{"path": str(top), "mode": "0755"}, {"path": str(data), "mode": "0750"}]}

    checked = run(args, "--check", "--diff")
    assert checked["changed"] and checked["changed_paths"] == [str(top), str(data)]
    assert not top.exists(), "check mode created a directory"

    created = run(args)
    assert created["changed"] and created["changed_paths"] == [str(top), str(data)]
    assert stat.S_IMODE(data.stat().st_mode) == 0o750

    assert run(args)["changed"] is False

    data.chmod(0o700)
    corrected = run(args, "--diff")
    assert corrected["changed_paths"] == [str(data)]
    assert stat.S_IMODE(data.stat().st_mode) == 0o750


def test_a_file_in_the_way_fails_naming_it(tmp_path):
    blocker = tmp_path / "config"
    blocker.write_text("not a directory")
    result = run({"directories": [{"path": str(blocker)}]})
    assert result["failed"]
    assert f"{blocker} exists and is not a directory" in result["msg"]
