"""vps.monitoring.prometheus_seconds: durations as Prometheus reads them."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vps.monitoring.plugins.filter.prometheus_seconds import prometheus_seconds


@pytest.mark.parametrize("text,seconds", [
    ("15s", 15), ("5m", 300), ("1h30m", 5400), ("15d", 15 * 86400), ("2w", 14 * 86400),
    ("1y", 365 * 86400), ("250ms", 0.25), ("0", 0),
])
def test_durations(text, seconds):
    assert prometheus_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["15 seconds", "1.5h", "", "m5"])
def test_not_durations(text):
    with pytest.raises(AnsibleFilterError, match="not a Prometheus duration"):
        prometheus_seconds(text)
