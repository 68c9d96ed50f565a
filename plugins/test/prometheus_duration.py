# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja test: is a value a Prometheus duration? (docs in prometheus_duration.yml)"""

from __future__ import annotations

from ansible_collections.vps.monitoring.plugins.module_utils.promtool import is_prometheus_duration


class TestModule:
    """Ansible test plugins of vps.monitoring."""

    def tests(self):
        return {"prometheus_duration": is_prometheus_duration}
