"""ToolRunner's error paths and mount computation (no Docker engine needed)."""

from __future__ import annotations

import pytest

from ansible_collections.vps.monitoring.plugins.module_utils import tool_runner
from ansible_collections.vps.monitoring.plugins.module_utils.tool_runner import ToolError, ToolRunner, mount_dirs


def test_exactly_one_of_image_and_binary():
    with pytest.raises(ToolError, match="exactly one of image"):
        ToolRunner("/bin/promtool")
    with pytest.raises(ToolError, match="exactly one of image"):
        ToolRunner("/bin/promtool", image="x", binary="/y")


def test_unreachable_engine_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", "unix://%s/no-such.sock" % tmp_path)
    runner = ToolRunner("/bin/promtool", image="vps-monitoring/prometheus:any", timeout=5)
    with pytest.raises(ToolError, match="cannot reach the Docker engine .* is dockerd running"):
        runner.run(["--version"])


def test_missing_sdk_is_reported(monkeypatch):
    monkeypatch.setattr(tool_runner, "HAS_DOCKER", False)
    with pytest.raises(ToolError, match="Docker SDK for Python"):
        ToolRunner("/bin/amtool", image="x").run(["--version"])


def test_binary_runs_and_missing_binary_is_named(tmp_path):
    script = tmp_path / "fake-promtool"
    script.write_text("#!/bin/sh\necho 'promtool, version 9.9.9'\necho oops >&2\nexit 3\n")
    script.chmod(0o755)
    runner = ToolRunner("/bin/promtool", binary=str(script))
    result = runner.run(["check", "config", "/x"])
    assert (result.rc, result.stdout, result.stderr) == (3, "promtool, version 9.9.9\n", "oops\n")
    assert runner.version() == "promtool, version 9.9.9"
    with pytest.raises(ToolError, match="does not exist or is not executable"):
        ToolRunner("/bin/promtool", binary=str(tmp_path / "absent")).run([])


def test_mount_dirs_dedupes_and_follows_symlinks(tmp_path):
    (tmp_path / "stage" / "rules").mkdir(parents=True)
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.yml").write_text("x")
    (tmp_path / "stage" / "link.yml").symlink_to(tmp_path / "real" / "a.yml")
    found = mount_dirs([str(tmp_path / "stage" / "prometheus.yml"), str(tmp_path / "stage" / "rules" / "r.yml"),
                        str(tmp_path / "stage" / "link.yml"), str(tmp_path / "stage" / "rules")])
    assert found == [str(tmp_path / "real"), str(tmp_path / "stage")]
