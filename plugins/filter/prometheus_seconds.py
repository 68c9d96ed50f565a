# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter prometheus_seconds: a Prometheus duration in seconds (docs in prometheus_seconds.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.vps.monitoring.plugins.module_utils.promtool import prometheus_duration_seconds


def prometheus_seconds(value):
    try:
        return prometheus_duration_seconds(value)
    except ValueError as exc:
        raise AnsibleFilterError("prometheus_seconds: %s" % exc)


class FilterModule:
    """Ansible filters of vps.monitoring."""

    def filters(self):
        return {"prometheus_seconds": prometheus_seconds}
