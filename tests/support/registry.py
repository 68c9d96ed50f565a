"""The image registry that molecule/vps pulls from (a TEST FIXTURE, never shipped).

A user's VPS pulls ``prom/prometheus:v3.5.0`` and friends from Docker Hub.
No container registry is reachable from this project's machines, so this
plays Docker Hub: Debian's ``docker-registry`` (the distribution registry)
serves the offline images from ``.cache/images.yml`` under the upstream
names the roles default to, and the scenario's instance engine uses it as
its ``registry-mirrors`` entry, so no image variable is overridden.

``ensure`` (idempotent; what molecule/vps's create step runs):

- the registry binary comes from Debian's package, unpacked into the cache
  rather than installed: installing starts the package's own service on
  every address with its config under /etc/docker, which a test has no
  business doing to this machine;
- it listens only on the gateway of the scenario's network (``NETWORK``,
  fixed subnet), the address the instance reaches the host at; the
  network is created here because the registry must bind to it first;
- images are copied with ``skopeo`` (Debian package): the engine here only
  pushes to loopback registries over plain HTTP, and the registry must not
  listen on loopback, where the instance cannot reach it. An image whose
  manifest in the registry already has the local image's config digest is
  not copied again; storage lives in ``.cache/vps-registry``.

``stop`` ends the registry process this script started (its pid file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "vps-registry"
NETWORK = "vpsmon-vps"
SUBNET = "10.217.61.0/24"
GATEWAY = "10.217.61.1"
PORT = 5000
ADDRESS = f"{GATEWAY}:{PORT}"
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])


def log(msg: str) -> None:
    print(f"[registry] {msg}", flush=True)


def run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kw)


def apt_install(package: str) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                      env=env, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        run("apt-get", "update", "-qq")
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", package, env=env,
            stdout=subprocess.DEVNULL)


def registry_binary() -> Path:
    """Debian's docker-registry binary, unpacked from the package into the cache."""
    binary = CACHE / "pkg" / "usr" / "bin" / "docker-registry"
    if binary.exists():
        return binary
    download = CACHE / "download"
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    if subprocess.run(["apt-get", "download", "docker-registry"], cwd=download,
                      stdout=subprocess.DEVNULL, check=False).returncode != 0:
        run("apt-get", "update", "-qq")
        run("apt-get", "download", "docker-registry", cwd=download, stdout=subprocess.DEVNULL)
    deb = next(download.glob("docker-registry_*.deb"))
    run("dpkg-deb", "-x", str(deb), str(CACHE / "pkg"))
    shutil.rmtree(download)
    log(f"unpacked {deb.name}")
    return binary


def ensure_network() -> None:
    found = subprocess.run(["docker", "network", "inspect", NETWORK, "-f",
                            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}"],
                           capture_output=True, text=True, check=False)
    if found.returncode == 0:
        if found.stdout.split() != [SUBNET, GATEWAY]:
            sys.exit(f"registry: network {NETWORK} exists with {found.stdout.strip()!r}, "
                     f"not {SUBNET} via {GATEWAY}; remove it (docker network rm {NETWORK})")
        return
    run("docker", "network", "create", "--subnet", SUBNET, "--gateway", GATEWAY,
        "--label", "vps.monitoring.test=molecule-vps", NETWORK, stdout=subprocess.DEVNULL)
    log(f"created network {NETWORK} ({SUBNET})")


def answers() -> bool:
    try:
        with urllib.request.urlopen(f"http://{ADDRESS}/v2/", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def ensure_registry() -> None:
    if answers():
        return
    binary = registry_binary()
    data = CACHE / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = CACHE / "config.yml"
    config.write_text(yaml.safe_dump({
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(data)}},
        "http": {"addr": ADDRESS},
    }))
    logfile = (CACHE / "registry.log").open("ab")
    proc = subprocess.Popen([str(binary), "serve", str(config)], stdout=logfile,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    (CACHE / "registry.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 30
    while not answers():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = (CACHE / "registry.log").read_text(errors="replace")[-2000:]
            sys.exit(f"registry: docker-registry did not answer on {ADDRESS}:\n{tail}")
        time.sleep(0.2)
    log(f"{binary} answers on {ADDRESS} (pid {proc.pid})")


def role_defaults() -> dict[str, object]:
    """Every role's default variables (defaults/main.yml or defaults/main/*.yml)."""
    found: dict[str, object] = {}
    for path in sorted(ROOT.glob("roles/*/defaults/main.yml")) + \
            sorted(ROOT.glob("roles/*/defaults/main/*.yml")):
        found.update(yaml.safe_load(path.read_text()) or {})
    return found


def hub_repository(name: str) -> tuple[str, str] | None:
    """Docker Hub repository and tag of an image name; None for other registries."""
    repo, tag = name.rsplit(":", 1) if ":" in name else (name, "latest")
    if "/" in tag:  # the colon was a registry's port
        repo, tag = name, "latest"
    first = repo.split("/")[0]
    if "/" in repo and ("." in first or ":" in first or first == "localhost"):
        return None  # another registry: a Hub mirror never serves it
    return (repo if "/" in repo else f"library/{repo}"), tag


def registry_config_digest(repo: str, tag: str) -> str | None:
    request = urllib.request.Request(f"http://{ADDRESS}/v2/{repo}/manifests/{tag}",
                                     headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.load(resp).get("config", {}).get("digest")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def seed(images_file: Path) -> None:
    local = yaml.safe_load(images_file.read_text()) or {}
    defaults = role_defaults()
    for var, ref in sorted(local.items()):
        if not var.endswith("_image"):
            continue  # the offline choices beside the images (scripts/lib.sh)
        upstream = defaults.get(var)
        if not isinstance(upstream, str) or "{{" in upstream:
            continue  # no role default names an upstream image for it
        hub = hub_repository(upstream)
        if hub is None:
            log(f"{var}: {upstream} is not a Docker Hub name; a Hub mirror cannot serve it")
            continue
        repo, tag = hub
        image_id = run("docker", "image", "inspect", "-f", "{{.Id}}", ref,
                       capture_output=True).stdout.strip()
        if registry_config_digest(repo, tag) == image_id:
            log(f"{upstream}: current ({ref})")
            continue
        start = time.monotonic()
        run("skopeo", "copy", "--quiet", "--dest-tls-verify=false",
            f"docker-daemon:{ref}", f"docker://{ADDRESS}/{repo}:{tag}")
        if registry_config_digest(repo, tag) != image_id:
            sys.exit(f"registry: {repo}:{tag} does not carry {ref}'s config after the copy")
        log(f"{upstream}: pushed {ref} in {time.monotonic() - start:.1f}s")


def stop() -> None:
    pidfile = CACHE / "registry.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    try:
        if Path(f"/proc/{pid}/exe").resolve().name == "docker-registry":
            os.kill(pid, signal.SIGTERM)
            log(f"stopped pid {pid}")
    except OSError:
        pass
    pidfile.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("action", choices=["ensure", "stop"])
    parser.add_argument("--images", default=str(ROOT / ".cache" / "images.yml"),
                        help="the offline images to serve (written by images/build.py)")
    args = parser.parse_args()
    if args.action == "stop":
        stop()
        return 0
    started = time.monotonic()
    if shutil.which("skopeo") is None:
        apt_install("skopeo")
    CACHE.mkdir(parents=True, exist_ok=True)
    ensure_network()
    ensure_registry()
    seed(Path(args.images))
    log(f"ready on {ADDRESS} in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
