# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus exporter for per-container Docker metrics and state.

cAdvisor-compatible resource metrics for running containers, plus state,
restarts, exit code, OOM kill and health for every container, stopped ones
included. Counters are the engine's own; the exporter keeps only the latest
stats sample per container and inspect results that no engine event has
invalidated since (see watcher.py).
"""

from __future__ import annotations

__version__ = "1.1.0"
