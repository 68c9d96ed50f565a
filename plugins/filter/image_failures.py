# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters on a component's images: which to obtain (images_to_obtain.yml), which cannot be
obtained (image_failures.yml) and the message for one (image_error_message.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _results(registered):
    if not registered:
        return []
    if not isinstance(registered, dict):
        raise AnsibleFilterError("image_failures: expected a registered loop result")
    return [r for r in registered.get("results", []) if not r.get("skipped")]


def images_to_obtain(images, present, policy="missing"):
    """The ``{image, variable}`` entries to look up or pull, each image once.

    ``images``: the component's images (an empty ``image`` is a tool run from a
    local binary: skipped). ``present``: the references on the engine (the
    stack's one engine read). Under the pull policy ``always`` every image is
    pulled again, so none counts as present.
    """
    if not isinstance(images, list) or not all(isinstance(i, dict) and "image" in i for i in images):
        raise AnsibleFilterError("images_to_obtain: expected a list of {image, variable} mappings")
    on_engine = set() if policy == "always" else set(present or [])
    wanted, seen = [], set()
    for entry in images:
        image = entry["image"]
        if image and image not in seen and image not in on_engine:
            seen.add(image)
            wanted.append(entry)
    return wanted


def image_failures(pulled, found=None, probed=None):
    """List ``{image, variable, error}`` for every image that cannot be obtained.

    ``pulled``: the registered loop of community.docker.docker_image_pull
    (failed_when false): a result without ``image`` is a pull that failed.
    ``found``: the registered loop of docker_image_info (pull policy never):
    no images means absent. ``probed``: the registered loop of the check-mode
    manifest probe (uri to the engine's /distribution endpoint): any status
    but 200 means the real run's pull would fail.
    """
    failures = []
    for result in _results(pulled):
        if not result.get("image") and not result.get("changed"):
            failures.append(dict(result["item"], error=result.get("msg") or "no detail"))
    for result in _results(found):
        if not result.get("images"):
            failures.append(dict(result["item"], error="it is not on the engine and the pull policy is never"))
    for result in _results(probed):
        if result.get("status") != 200:
            body = result.get("json") if isinstance(result.get("json"), dict) else {}
            error = body.get("message") or result.get("msg") or "the registry did not answer"
            failures.append(dict(result["item"]["item"], error=error))
    return failures


def image_error_message(failure, policy):
    """One sentence naming the image, the variable that sets it and the engine's error."""
    return ("Image %s (set by %s) is not on the Docker engine and could not be obtained: %s. "
            "Check the name and tag, the registry or its mirror (registry-mirrors in "
            "/etc/docker/daemon.json), or load it with docker load (stack_image_pull_policy=%s)."
            % (failure["image"], failure.get("variable", "?"), str(failure.get("error", "")).strip(), policy))


class FilterModule:
    """Ansible filters of vps.monitoring."""

    def filters(self):
        return {"images_to_obtain": images_to_obtain, "image_failures": image_failures,
                "image_error_message": image_error_message}
