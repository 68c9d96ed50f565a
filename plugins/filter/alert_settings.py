# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter alert_settings: check per-alert settings (docs: alert_settings.yml).

The prometheus role keeps one entry per shipped alert in
prometheus_alert_defaults and lets users change any part of it through the
partial dict prometheus_alert_overrides. This filter finds the structural
mistakes itself (unknown alert or setting, severity, lists) and hands the
value checks (durations, thresholds by kind) to vps.monitoring.value_errors
as {name, value, kind} entries, each named by its exact variable path.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

SEVERITIES = ("critical", "warning", "info")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
# Settings whose kind is the same for every alert (value_errors kinds).
_KEY_KINDS = {"for": "duration", "window": "duration"}


def _structure_error(path, key, value):
    """The problem with a setting value_errors has no kind for, or None."""
    if key == "enabled" and not isinstance(value, bool):
        return "%s=%r must be true or false." % (path, value)
    if key == "severity" and value not in SEVERITIES:
        return "%s=%r is not a severity. Use one of %s." % (path, value, ", ".join(SEVERITIES))
    if key == "restart_policies" and (not isinstance(value, list) or not value
                                      or any(v not in RESTART_POLICIES for v in value)):
        return "%s=%r must be a non-empty list of %s. Use a value like [always, unless-stopped]." % (
            path, value, ", ".join(RESTART_POLICIES))
    if key == "expected_names" and (not isinstance(value, list)
                                    or any(not isinstance(v, str) or not v for v in value)):
        return "%s=%r must be a list of container names. Use a value like [n8n, postgres]." % (path, value)
    if key == "excluded_fstypes" and (not isinstance(value, str) or not value):
        return "%s=%r must be a regular expression of filesystem types. Use a value like tmpfs|overlay." % (
            path, value)
    return None


def alert_settings(defaults, overrides, threshold_kinds,
                   defaults_name="prometheus_alert_defaults", overrides_name="prometheus_alert_overrides"):
    """Return {errors: [messages], checks: [{name, value, kind}]} for the merged settings."""
    if not isinstance(defaults, dict):
        raise AnsibleFilterError("alert_settings: %s must be a mapping" % defaults_name)
    errors, checks = [], []
    if not isinstance(overrides, dict):
        errors.append("%s must be a mapping of alert name to settings. Use a value like "
                      "{HostHighCpuUsage: {threshold: 0.9}}." % overrides_name)
        overrides = {}
    for name, override in overrides.items():
        if name not in defaults:
            errors.append("%s.%s is not an alert of this collection. Known alerts: %s." % (
                overrides_name, name, ", ".join(sorted(defaults))))
        elif not isinstance(override, dict):
            errors.append("%s.%s must be a mapping of settings. Use a value like {enabled: false}." % (
                overrides_name, name))
        else:
            errors.extend("%s.%s.%s is not a setting of %s. It has %s." % (
                overrides_name, name, key, name, ", ".join(sorted(defaults[name])))
                for key in override if key not in defaults[name])
    for name, default in sorted(defaults.items()):
        override = overrides.get(name) if isinstance(overrides.get(name), dict) else {}
        merged = dict(default, **{k: v for k, v in override.items() if k in default})
        for key, value in merged.items():
            path = "%s.%s.%s" % (overrides_name if key in override else defaults_name, name, key)
            if key in ("threshold", "critical_threshold"):
                if name not in threshold_kinds:
                    raise AnsibleFilterError("alert_settings: no threshold kind for %s" % name)
                checks.append({"name": path, "value": value, "kind": threshold_kinds[name]})
            elif key in _KEY_KINDS:
                checks.append({"name": path, "value": value, "kind": _KEY_KINDS[key]})
            else:
                problem = _structure_error(path, key, value)
                if problem:
                    errors.append(problem)
        if "critical_threshold" in merged:
            try:
                later = float(merged["critical_threshold"]) < float(merged["threshold"])
            except (TypeError, ValueError):
                later = True  # value_errors reports the number itself
            if not later:
                errors.append("%s.%s.critical_threshold=%s must be below threshold=%s (the critical alert "
                              "comes closer to the deadline). Use a value like 3." % (
                                  overrides_name, name, merged["critical_threshold"], merged["threshold"]))
    return {"errors": errors, "checks": checks}


class FilterModule:
    """Ansible filters of vps.monitoring."""

    def filters(self):
        return {"alert_settings": alert_settings}
