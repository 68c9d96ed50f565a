"""OTLP attribute values and resources as Prometheus labels."""

from __future__ import annotations

import base64
import json

from .names import label_name


def any_value(value) -> str:
    """An AnyValue as a label value (the exporter's string forms)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        number = value.double_value
        return str(int(number)) if number.is_integer() else repr(number)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "array_value":
        return json.dumps([any_value(v) for v in value.array_value.values])
    if kind == "kvlist_value":
        return json.dumps({kv.key: any_value(kv.value) for kv in value.kvlist_value.values})
    return ""


def raw_value(value):
    """An AnyValue as a Python scalar (numbers stay numbers), for event fields."""
    kind = value.WhichOneof("value")
    if kind in ("int_value", "double_value", "bool_value", "string_value"):
        return getattr(value, kind)
    return any_value(value)


def attributes_to_labels(attributes, into: dict[str, str]) -> dict[str, str]:
    """Add attributes as labels; keys that sanitize alike join their values with ';'."""
    merged: dict[str, list[tuple[str, str]]] = {}
    for kv in attributes:
        name = label_name(kv.key)
        if name:
            merged.setdefault(name, []).append((kv.key, any_value(kv.value)))
    for name, pairs in merged.items():
        into[name] = pairs[0][1] if len(pairs) == 1 else ";".join(v for _k, v in sorted(pairs))
    return into


def resource_labels(resource) -> dict[str, str]:
    """Resource attributes as labels (resource_to_telemetry_conversion), plus
    job from service.namespace/service.name and instance from service.instance.id."""
    labels: dict[str, str] = {}
    attributes_to_labels(resource.attributes, labels)
    attrs = {kv.key: any_value(kv.value) for kv in resource.attributes
             if kv.key in ("service.name", "service.namespace", "service.instance.id")}
    job = attrs.get("service.name", "")
    if job and attrs.get("service.namespace"):
        job = f"{attrs['service.namespace']}/{job}"
    if job:
        labels["job"] = job
    if attrs.get("service.instance.id"):
        labels["instance"] = attrs["service.instance.id"]
    return labels


def scope_labels(scope) -> dict[str, str]:
    labels = {}
    if scope.name:
        labels["otel_scope_name"] = scope.name
    if scope.version:
        labels["otel_scope_version"] = scope.version
    return labels
