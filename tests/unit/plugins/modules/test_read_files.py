"""read_files: several host files in one run, the missing ones named, nothing changed."""

from __future__ import annotations

from support.adhoc import run_module


def run(args: dict, *flags: str) -> dict:
    return run_module("vps.monitoring.read_files", args, *flags, timeout=120)


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
