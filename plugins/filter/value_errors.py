# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter value_errors: check values that become flags or limits (docs in value_errors.yml).

A value that a program refuses at start-up (a retention size of 5XB, a port
of 99999) would otherwise re-create a container that never becomes ready.
Every role checks such values here, before anything changes, and the message
names the variable and shows a good value.
"""

from __future__ import annotations

import math
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.vps.monitoring.plugins.module_utils.promtool import is_prometheus_duration

# Prometheus --storage.tsdb.retention.size units (units.Base2Bytes).
_PROM_SIZE = re.compile(r"^[0-9]+(B|KB|MB|GB|TB|PB|EB)$")
# Docker memory sizes: a number and an optional b/k/m/g unit.
_DOCKER_MEMORY = re.compile(r"^([0-9]+)([bkmg]?)$", re.IGNORECASE)
_DOCKER_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
# Docker refuses a memory limit below 6 MiB.
_DOCKER_MEMORY_MIN = 6 * 1024 ** 2
_TARGET = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):([0-9]+)$")
_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")


def _number(value):
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def _port(value):
    number = _number(value)
    return number is not None and number == int(number) and 1 <= number <= 65535


def _docker_memory(value):
    match = _DOCKER_MEMORY.match(str(value).strip())
    if not match:
        return False
    return int(match.group(1)) * _DOCKER_UNITS[match.group(2).lower()] >= _DOCKER_MEMORY_MIN


def _targets(value):
    """A list of host:port scrape targets, each port in 1-65535."""
    if not isinstance(value, (list, tuple)):
        return False
    for target in value:
        match = _TARGET.match(str(target))
        if not match or not _port(match.group(2)):
            return False
    return True


# kind -> (check, what a good value is, example)
KINDS = {
    "duration": (is_prometheus_duration, "a Prometheus duration (number and unit)", "15s, 5m, 15d"),
    "prometheus_size": (lambda v: bool(_PROM_SIZE.match(str(v))),
                        "a Prometheus size (number and B, KB, MB, GB, TB, PB or EB)", "5GB"),
    "docker_memory": (_docker_memory, "a Docker memory size of at least 6m", "256m, 1g"),
    "port": (_port, "a TCP port from 1 to 65535", "9090"),
    "ratio": (lambda v: _number(v) is not None and 0 < _number(v) <= 1,
              "a ratio above 0 and at most 1", "0.85"),
    "positive_int": (lambda v: _number(v) is not None and _number(v) == int(_number(v)) and _number(v) >= 1,
                     "a whole number of at least 1", "60"),
    "non_negative": (lambda v: _number(v) is not None and _number(v) >= 0,
                     "a number of at least 0", "0"),
    "url": (lambda v: bool(_URL.match(str(v))), "an http(s) URL", "https://grafana.example.org"),
    "optional_url": (lambda v: v in ("", None) or bool(_URL.match(str(v))),
                     "empty or an http(s) URL", "https://prometheus.example.org"),
    "targets": (_targets, "a list of host:port targets with ports from 1 to 65535",
                "['myapp:8080']"),
}


def value_errors(checks, values=None):
    """Return one message per value that fails its kind's check.

    ``checks`` is a list of ``{name, value, kind}``: ``name`` is what the
    user wrote (a variable, or a path inside one), ``kind`` a key of KINDS.
    It may also be a mapping ``{name: kind}`` with the values, in the same
    order, as ``values`` (what ``query('ansible.builtin.vars', *names)`` gives).
    """
    if isinstance(checks, dict):
        if not isinstance(values, (list, tuple)) or len(values) != len(checks):
            raise AnsibleFilterError("value_errors: a {name: kind} mapping needs one value per name")
        checks = [{"name": name, "kind": kind, "value": value}
                  for (name, kind), value in zip(checks.items(), values)]
    if not isinstance(checks, (list, tuple)):
        raise AnsibleFilterError("value_errors: expected a list of {name, value, kind}")
    errors = []
    for check in checks:
        try:
            name, value, kind = check["name"], check.get("value"), check["kind"]
        except (KeyError, TypeError, AttributeError):
            raise AnsibleFilterError("value_errors: each check needs name, value and kind, got %r" % (check,))
        if kind not in KINDS:
            raise AnsibleFilterError("value_errors: unknown kind %r for %s; known: %s"
                                     % (kind, name, ", ".join(sorted(KINDS))))
        test, what, example = KINDS[kind]
        if not test(value):
            errors.append("%s=%s is not %s. Use a value like %s." % (name, value, what, example))
    return errors


class FilterModule:
    """Ansible filters of vps.monitoring."""

    def filters(self):
        return {"value_errors": value_errors}
