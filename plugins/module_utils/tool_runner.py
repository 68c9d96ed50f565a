# -*- coding: utf-8 -*-
# Copyright: vps.monitoring contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a validation tool (promtool, amtool) as a local binary or from an image.

The image form exists so a config is validated by the very build of the tool
that will run it (versions match). The container gets no network, runs as
nobody, sees only the checked files' directories read-only at the same paths
(so paths in messages are the host's paths), and is always removed.
"""

from __future__ import annotations

import os
import subprocess
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import docker
    from docker.errors import DockerException, ImageNotFound, NotFound

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the target host
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()


def tool_runner_args(tool_path):
    """argument_spec options of a module that runs a tool through ToolRunner.

    Documented by the vps.monitoring.tool_runner doc fragment; each module
    documents the default it gives ``tool_path``. Pair it with
    TOOL_RUNNER_CONSTRAINTS.
    """
    return dict(
        image=dict(type="str"),
        binary=dict(type="path"),
        tool_path=dict(type="str", default=tool_path),
        mount_dirs=dict(type="list", elements="path", default=[]),
        timeout=dict(type="int", default=120),
        # no_log makes AnsibleModule mask these strings in every result and message.
        redact=dict(type="list", elements="str", default=[], no_log=True),
    )


# AnsibleModule keyword arguments: the tool comes from exactly one place.
TOOL_RUNNER_CONSTRAINTS = dict(mutually_exclusive=[("image", "binary")],
                               required_one_of=[("image", "binary")])


def module_runner(module):
    """The ToolRunner that a module's tool_runner_args parameters ask for.

    Fails the module when an image is asked for but the Docker SDK is missing,
    so the user learns what to install rather than seeing an import error.
    """
    params = module.params
    if params["image"] and not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker (Docker SDK for Python)"), exception=DOCKER_IMPORT_ERROR)
    return ToolRunner(params["tool_path"], image=params["image"], binary=params["binary"],
                      timeout=params["timeout"])


class ToolError(Exception):
    """The tool could not be run at all (as opposed to: it ran and rejected the input)."""


class ToolResult:
    """Exit code and output streams of one tool run."""

    def __init__(self, rc, stdout, stderr):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self):
        return "ToolResult(rc=%r, stdout=%r, stderr=%r)" % (self.rc, self.stdout, self.stderr)


def mount_dirs(paths):
    """Directories to bind-mount so every path (and its symlink target) is visible.

    Nested directories are dropped: mounting a parent already exposes them.
    """
    dirs = set()
    for path in paths:
        absolute = os.path.abspath(path)
        for candidate in (absolute, os.path.realpath(absolute)):
            dirs.add(candidate if os.path.isdir(candidate) else os.path.dirname(candidate))
    kept = []
    for directory in sorted(dirs, key=len):
        if not any(directory == k or directory.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(directory)
    return sorted(kept)


class ToolRunner:
    """Runs ``tool_path`` (inside ``image``) or ``binary`` with arguments.

    Exactly one of ``image`` and ``binary`` is given. ``timeout`` bounds one run
    in seconds.
    """

    def __init__(self, tool_path, image=None, binary=None, timeout=120, user="65534"):
        if bool(image) == bool(binary):
            raise ToolError("give exactly one of image (run %s from that image) or binary "
                            "(a local executable)" % tool_path)
        self.tool_path = tool_path
        self.image = image
        self.binary = binary
        self.timeout = timeout
        self.user = user
        self._client = None

    @property
    def where(self):
        """Human-readable origin of the tool, for messages."""
        if self.image:
            return "%s from image %s" % (self.tool_path, self.image)
        return self.binary

    def run(self, args, paths=()):
        """Run the tool with ``args``; ``paths`` are host paths it must be able to read."""
        if self.binary:
            return self._run_binary(args)
        return self._run_image(args, paths)

    def version(self):
        """First line of ``--version`` output, or '' when the tool gives none."""
        result = self.run(["--version"])
        text = (result.stdout or result.stderr).strip()
        return text.splitlines()[0] if text else ""

    def _run_binary(self, args):
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            raise ToolError("binary %s does not exist or is not executable: give the path of a "
                            "local %s, or use image instead" % (self.binary, os.path.basename(self.tool_path)))
        try:
            proc = subprocess.run([self.binary] + list(args), capture_output=True, text=True,
                                  timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ToolError("%s did not finish within %ss" % (self.binary, self.timeout))
        except OSError as exc:
            raise ToolError("cannot run %s: %s" % (self.binary, exc))
        return ToolResult(proc.returncode, proc.stdout, proc.stderr)

    def _docker(self):
        if self._client is None:
            if not HAS_DOCKER:
                raise ToolError("the Docker SDK for Python (docker) is needed to run %s from an image"
                                % self.tool_path)
            try:
                client = docker.from_env(timeout=max(int(self.timeout), 10))
                client.ping()
            except DockerException as exc:
                raise ToolError("cannot reach the Docker engine (%s): is dockerd running, and may "
                                "this user use its socket (DOCKER_HOST or /var/run/docker.sock)?" % exc)
            self._client = client
        return self._client

    def _run_image(self, args, paths):
        client = self._docker()
        try:
            client.images.get(self.image)
        except ImageNotFound:
            # Never pull implicitly: the validator must be the image that will run.
            raise ToolError("image %s is not present on this Docker engine; it is never pulled "
                            "implicitly: pull or build it first (or set binary to a local tool)"
                            % self.image)
        except DockerException as exc:
            raise ToolError("cannot inspect image %s: %s" % (self.image, exc))
        volumes = dict((d, {"bind": d, "mode": "ro"}) for d in mount_dirs(paths))
        container = None
        try:
            container = client.containers.create(
                self.image, command=list(args), entrypoint=[self.tool_path], user=self.user,
                network_mode="none", volumes=volumes, labels={"vps.monitoring.tool-check": "1"},
                # promtool test rules needs a scratch TSDB in /tmp; the rest stays read-only.
                read_only=True, tmpfs={"/tmp": "size=256m"}, security_opt=["no-new-privileges"])
            container.start()
            try:
                status = container.wait(timeout=self.timeout)
            except Exception as exc:  # requests' ReadTimeout / ConnectionError
                raise ToolError("%s did not finish within %ss (%s)" % (self.where, self.timeout, exc))
            stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            error = (status.get("Error") or {}).get("Message") if isinstance(status, dict) else None
            if error:
                stderr = (stderr + "\n" + error).strip() + "\n"
            return ToolResult(int(status.get("StatusCode", 1)), stdout, stderr)
        except DockerException as exc:
            raise ToolError("cannot run %s: %s" % (self.where, exc))
        finally:
            if container is not None:
                try:
                    container.remove(force=True)
                except (NotFound, DockerException):
                    pass
