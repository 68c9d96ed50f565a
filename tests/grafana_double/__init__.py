# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grafana API TEST DOUBLE for the vps.monitoring tests; never shipped as a component."""

from __future__ import annotations

from .server import DoubleState, GrafanaDouble

__all__ = ["DoubleState", "GrafanaDouble"]
