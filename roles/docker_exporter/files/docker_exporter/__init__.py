# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus exporter for per-container Docker metrics and state.

cAdvisor-compatible resource metrics for running containers, plus state,
restarts, exit code, OOM kill and health for every container, stopped ones
included. Each scrape reads the Engine API afresh (a custom collector), so
nothing is cached between scrapes and counters are the engine's own.
"""

from __future__ import annotations

__version__ = "1.0.0"
