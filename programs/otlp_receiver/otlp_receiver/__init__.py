"""A small OTLP receiver that serves what it receives as Prometheus metrics.

OTLP/HTTP (protobuf and JSON, gzip or not) and OTLP/gRPC in; one /metrics
page out, named as the OpenTelemetry collector's Prometheus exporter names
things. Delta and cumulative sums both end as Prometheus counters, and Claude
Code's log events become counters and histograms.
"""

__version__ = "1.0.0"
