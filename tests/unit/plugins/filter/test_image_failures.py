"""vps.monitoring.images_to_obtain / image_failures / image_error_message: a component's images."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vps.monitoring.plugins.filter.image_failures import (
    image_error_message, image_failures, images_to_obtain)

PROM = {"image": "prom/prometheus:v3.5.0", "variable": "prometheus_image"}
TOOL = {"image": "prom/prometheus:v3.5.1", "variable": "prometheus_promtool_image"}


def test_a_failed_pull_is_reported_with_the_engines_error():
    pulled = {"results": [
        {"item": PROM, "changed": False, "image": {"Id": "sha256:1"}},
        {"item": TOOL, "changed": False, "msg": "manifest unknown"},
    ]}
    assert image_failures(pulled) == [dict(TOOL, error="manifest unknown")]


def test_skipped_loops_and_present_images_report_nothing():
    assert image_failures({"skipped": True, "results": []}, {}, {}) == []
    assert image_failures({"results": [{"item": PROM, "skipped": True}]}) == []


def test_check_mode_trusts_the_manifest_probe_not_the_would_be_pull():
    # In check mode a missing image "changes" (would be pulled): only the
    # probe tells whether the real pull would work.
    pulled = {"results": [{"item": PROM, "changed": True}, {"item": TOOL, "changed": True}]}
    probed = {"results": [
        {"item": {"item": PROM}, "status": 200},
        {"item": {"item": TOOL}, "status": 404, "json": {"message": "manifest unknown"}},
    ]}
    assert image_failures(pulled, None, probed) == [dict(TOOL, error="manifest unknown")]


def test_policy_never_reports_images_that_are_not_loaded():
    found = {"results": [{"item": PROM, "images": [{"Id": "x"}]}, {"item": TOOL, "images": []}]}
    [failure] = image_failures({"skipped": True}, found)
    assert failure["image"] == TOOL["image"] and "never" in failure["error"]


def test_the_message_names_image_variable_error_and_policy():
    message = image_error_message(dict(TOOL, error="manifest unknown\n"), "missing")
    assert message.startswith("Image prom/prometheus:v3.5.1 (set by prometheus_promtool_image)")
    assert "manifest unknown." in message and "stack_image_pull_policy=missing" in message


def test_only_images_the_engine_lacks_are_obtained_each_once():
    node = {"image": "prom/node-exporter:v1.9.1", "variable": "node_exporter_image"}
    tool_again = {"image": TOOL["image"], "variable": "node_exporter_promtool_image"}
    local_binary = {"image": "", "variable": "prometheus_promtool_image"}
    images = [PROM, TOOL, tool_again, local_binary, node]
    assert images_to_obtain(images, [PROM["image"]], "missing") == [TOOL, node]
    assert images_to_obtain(images, [PROM["image"], TOOL["image"], node["image"]], "never") == []
    assert images_to_obtain([local_binary], [], "missing") == []


def test_the_pull_policy_always_obtains_every_image_again():
    assert images_to_obtain([PROM, TOOL], [PROM["image"], TOOL["image"]], "always") == [PROM, TOOL]


def test_a_malformed_image_list_is_refused():
    with pytest.raises(AnsibleFilterError, match="images_to_obtain"):
        images_to_obtain(["prom/prometheus:v3.5.0"], [], "missing")
