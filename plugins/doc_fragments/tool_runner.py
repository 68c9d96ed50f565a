# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the tool-check modules (promtool_check, amtool_check).

They match module_utils/tool_runner.tool_runner_args(). Each module adds the
default of tool_path, which names its own tool.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  image:
    description:
      - Image holding the tool at O(tool_path). Must already be present on the Docker engine.
      - Exactly one of O(image) and O(binary) is required.
    type: str
  binary:
    description: Path of a local executable of the tool.
    type: path
  tool_path:
    description: Path of the tool inside O(image).
    type: str
  mount_dirs:
    description:
      - Extra host directories to mount read-only for O(image) runs, when a checked file refers to
        files outside its own directory (rule files or templates elsewhere, TLS certificates,
        password files).
    type: list
    elements: path
    default: []
  timeout:
    description: Seconds one run of the tool may take.
    type: int
    default: 120
  redact:
    description:
      - Strings (passwords, tokens, webhook or other URLs with credentials) that must never appear
        in the output; they are masked in every result and message.
    type: list
    elements: str
    default: []
requirements:
  - Docker SDK for Python (C(docker)) on the target when O(image) is used.
attributes:
  check_mode:
    support: full
    description: Only reads the files; runs the same checks in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff.
"""
