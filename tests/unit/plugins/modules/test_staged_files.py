"""staged_files: the validated bytes, and only they, reach the live directory."""

from __future__ import annotations

import json
from pathlib import Path

from support.adhoc import run_module

from ansible_collections.vps.monitoring.plugins.modules.staged_files import plan


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_plan_lists_only_real_differences_and_unstaged_managed_files(tmp_path):
    src, dest = tmp_path / "staging", tmp_path / "config"
    write(src, "prometheus.yml", "a\n")
    write(src, "rules/node.rules.yml", "same\n")
    write(src, "rules/new.rules.yml", "new\n")
    write(src, "web.yml", "excluded\n")
    write(dest, "prometheus.yml", "old\n")
    write(dest, "rules/node.rules.yml", "same\n")
    write(dest, "rules/gone.rules.yml", "gone\n")
    write(dest, "web_password", "not managed\n")
    install, remove = plan(str(src), str(dest), ["prometheus.yml", "rules/*.rules.yml"], ["web.yml"])
    assert list(install) == [
        ("prometheus.yml", b"a\n", b"old\n"), ("rules/new.rules.yml", b"new\n", None)]
    assert remove == ["rules/gone.rules.yml"]


def test_identical_directories_plan_nothing(tmp_path):
    for root in (tmp_path / "s", tmp_path / "d"):
        write(root, "alertmanager.yml", "route: {}\n")
    assert plan(str(tmp_path / "s"), str(tmp_path / "d"), ["*"], []) == ([], [])


def run(args: dict, *flags: str) -> dict:
    return run_module("vps.monitoring.staged_files", args, *flags, timeout=120)


def test_check_mode_reports_and_diffs_without_touching_and_secrets_stay_hidden(tmp_path):
    src, dest = tmp_path / "staging", tmp_path / "config"
    write(src, "prometheus.yml", "new: 1\n")
    write(src, "token", "s3cret-token\n")
    write(dest, "prometheus.yml", "old: 1\n")
    args = {"src": str(src), "dest": str(dest), "hide_content": ["token"]}
    result = run(args, "--check", "--diff")
    assert result["changed"] and sorted(result["installed"]) == ["prometheus.yml", "token"]
    assert (dest / "prometheus.yml").read_text() == "old: 1\n" and not (dest / "token").exists()
    shown = json.dumps(result["diff"])
    assert "new: 1" in shown and "s3cret-token" not in shown


def test_install_is_exact_idempotent_and_sets_mode(tmp_path):
    src, dest = tmp_path / "staging", tmp_path / "config"
    write(src, "rules/a.rules.yml", "groups: []\n")
    write(dest, "rules/b.rules.yml", "stale\n")
    args = {"src": str(src), "dest": str(dest), "patterns": ["rules/*.rules.yml"], "mode": "0640"}
    first = run(args)
    assert first["changed"] and first["installed"] == ["rules/a.rules.yml"]
    assert first["removed"] == ["rules/b.rules.yml"]
    assert (dest / "rules/a.rules.yml").read_bytes() == (src / "rules/a.rules.yml").read_bytes()
    assert oct((dest / "rules/a.rules.yml").stat().st_mode & 0o777) == "0o640"
    assert not run(args)["changed"]
    (dest / "rules/a.rules.yml").chmod(0o666)
    assert run(args)["changed"]


def test_stage_writes_contents_and_state_staged_never_touches_the_live_directory(tmp_path):
    src, dest = tmp_path / "staging", tmp_path / "config"
    write(src, "rules/old.rules.yml", "no longer wanted\n")
    write(src, "web.yml", "excluded: kept\n")
    write(dest, "prometheus.yml", "old: 1\n")
    args = {"src": str(src), "dest": str(dest), "patterns": ["prometheus.yml", "rules/*.rules.yml", "secret"],
            "exclude": ["web.yml"], "state": "staged",
            "directories": [{"path": str(tmp_path / "data"), "mode": "0750"}],
            "file_attributes": [{"pattern": "secret", "mode": "0400"}],
            "stage": [{"path": "prometheus.yml", "content": "new: 1\n"},
                      {"path": "rules/a.rules.yml", "content": "groups: []\n"},
                      {"path": "secret", "content": "s3cret\n"}]}
    pending = run(args)
    # Reported as pending, staged exactly, the live directory untouched.
    assert pending["changed"] and sorted(pending["installed"]) == ["prometheus.yml", "rules/a.rules.yml", "secret"]
    assert (src / "prometheus.yml").read_text() == "new: 1\n"
    assert not (src / "rules/old.rules.yml").exists() and (src / "web.yml").exists()
    assert oct((src / "secret").stat().st_mode & 0o777) == "0o400"
    assert oct((tmp_path / "data").stat().st_mode & 0o777) == "0o750"
    assert (dest / "prometheus.yml").read_text() == "old: 1\n" and not (dest / "secret").exists()
    # Installing: exactly the staged bytes, each file with its attributes.
    installed = run(dict(args, state="installed"))
    assert installed["changed"] and (dest / "prometheus.yml").read_text() == "new: 1\n"
    assert oct((dest / "secret").stat().st_mode & 0o777) == "0o400"
    assert oct((dest / "prometheus.yml").stat().st_mode & 0o777) == "0o644"
    assert not (dest / "web.yml").exists()
    # Nothing differs now: both states report no change.
    assert not run(args)["changed"] and not run(dict(args, state="installed"))["changed"]
    # A mode changed by hand is pending with state=staged, and is not corrected by it.
    (dest / "secret").chmod(0o644)
    again = run(args)
    assert again["changed"] and again["installed"] == ["secret"]
    assert oct((dest / "secret").stat().st_mode & 0o777) == "0o644"


def test_stage_rejects_a_path_outside_src(tmp_path):
    args = {"src": str(tmp_path / "s"), "dest": str(tmp_path / "d"),
            "stage": [{"path": "../escape", "content": "x"}]}
    result = run(args)
    assert result.get("failed") and "must be relative" in result["msg"]
    assert not (tmp_path / "escape").exists()


def test_state_absent_removes_managed_files_from_both_sides_and_creates_nothing(tmp_path):
    src, dest = tmp_path / "staging", tmp_path / "config"
    write(src, "web_password", "s3cret\n")
    write(dest, "web_password", "s3cret\n")
    write(dest, "web.yml", "basic_auth_users: {}\n")
    write(dest, "prometheus.yml", "kept\n")
    args = {"src": str(src), "dest": str(dest), "patterns": ["web.yml", "web_password"],
            "hide_content": ["web_password"], "state": "absent"}
    checked = run(args, "--check", "--diff")
    assert checked["changed"] and sorted(checked["removed"]) == ["web.yml", "web_password"]
    assert (dest / "web.yml").exists() and "s3cret" not in json.dumps(checked["diff"])
    removed = run(args)
    assert removed["changed"] and not (dest / "web.yml").exists() and not (src / "web_password").exists()
    assert (dest / "prometheus.yml").read_text() == "kept\n"
    assert not run(args)["changed"]
    # Directories that do not exist stay absent, without a warning or a failure.
    nowhere = {"src": str(tmp_path / "no" / "staging"), "dest": str(tmp_path / "no" / "config"),
               "patterns": ["web.yml"], "state": "absent"}
    result = run(nowhere)
    assert not result["changed"] and not result.get("failed") and not (tmp_path / "no").exists()
    assert not result.get("warnings")


def test_two_calls_manage_disjoint_sets_of_one_staging_directory(tmp_path):
    # A role's config and its web config share staging and live directories,
    # each with its own owner and mode: neither call may install, re-own or
    # re-mode the other's files, so converging both again changes nothing.
    src, dest = tmp_path / "staging", tmp_path / "config"
    config = {"src": str(src), "dest": str(dest), "patterns": ["alertmanager.yml"], "mode": "0644",
              "stage": [{"path": "alertmanager.yml", "content": "route: {}\n"}]}
    web = {"src": str(src), "dest": str(dest), "patterns": ["web.yml", "web_password"], "mode": "0400",
           "stage": [{"path": "web.yml", "content": "basic_auth_users: {}\n"}], "hide_content": ["web*"]}
    assert run(config)["installed"] == ["alertmanager.yml"]
    assert run(web)["installed"] == ["web.yml"]
    assert oct((dest / "alertmanager.yml").stat().st_mode & 0o777) == "0o644"
    assert oct((dest / "web.yml").stat().st_mode & 0o777) == "0o400"
    for args in (config, web, config):
        again = run(args)
        assert not again["changed"] and again["installed"] == [] and again["removed"] == [], again
