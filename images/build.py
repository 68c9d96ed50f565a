"""Build the offline component images from Debian trixie packages.

No container registry is needed: each image's root filesystem is made with
``debootstrap --variant=minbase``, turned into a base image with
``docker import`` and finished by ``docker build`` from the recipe beside
this file (same paths, user, entrypoint and default command as the upstream
image, so a role never needs to know which one it got).

The build is cached by package versions. The tag of every image is a hash of
its recipe and of the versions of every package in its dependency closure,
resolved from the trixie package index. When an image with that tag already
exists nothing is built; when the index is unchanged since the last run it is
not even downloaded again.

Writes ``.cache/images.yml``: the ``<role>_image`` variables pointing at the
local tags, for ``ansible-playbook -e @.cache/images.yml``.

The Debian mirror is read from this machine's own apt configuration (or the
VPSMON_DEBIAN_MIRROR environment variable); none is named here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SUITE = "trixie"
REPO = "vps-monitoring"

# image directory -> the Ansible variable that selects it
IMAGES = {
    "prometheus": "prometheus_image",
    "alertmanager": "alertmanager_image",
    "node-exporter": "node_exporter_image",
    "vmagent": "otel_collector_vmagent_image",
    "python-base": "docker_exporter_base_image",
    "blackbox-exporter": "blackbox_exporter_image",
    "caddy": "proxy_image",
    "victoriametrics": "victoriametrics_image",
}
# Test hosts, not role images (molecule/vps's instance): their tags go to a
# file of their own, test-images.yml beside --out, so images.yml stays a set
# of role variables.
TEST_IMAGES = {
    "vps-host": "vps_host_image",
}
# Trimmed from every root filesystem: documentation and package lists are
# dead weight in a container.
TRIM = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
        "var/lib/apt/lists", "var/cache/apt", "var/log"]


def log(msg: str) -> None:
    print(f"[images] {msg}", flush=True)


def debian_mirror() -> str:
    """The Debian archive URI this machine's apt already uses."""
    env = os.environ.get("VPSMON_DEBIAN_MIRROR")
    if env:
        return env.rstrip("/")
    sources = [Path("/etc/apt/sources.list")]
    sources += sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri in re.findall(r"(https?://\S+)", text):
            uri = uri.rstrip("/")
            if uri.endswith("/debian"):
                return uri
    sys.exit("images: no Debian mirror found in /etc/apt; set VPSMON_DEBIAN_MIRROR")


def fetch(url: str, retries: int = 3) -> bytes:
    for attempt in range(retries):
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:
                return resp.read()
        except OSError as exc:  # pragma: no cover - network hiccup
            if attempt == retries - 1:
                raise SystemExit(f"images: cannot fetch the package index: {exc}")
            time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


def package_index(mirror: str, arch: str, cache: Path) -> dict[str, dict]:
    """Parse trixie's main Packages index, downloading it only when it changed."""
    release = fetch(f"{mirror}/dists/{SUITE}/InRelease").decode()
    want = f"main/binary-{arch}/Packages.xz"
    match = re.search(r"^ ([0-9a-f]{64})\s+\d+\s+" + re.escape(want) + r"$", release, re.M)
    if not match:
        sys.exit(f"images: {want} not listed in the {SUITE} release file")
    digest = match.group(1)
    cached = cache / f"Packages-{arch}-{digest[:16]}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    log(f"downloading the {SUITE} package index")
    raw = fetch(f"{mirror}/dists/{SUITE}/{want}")
    if hashlib.sha256(raw).hexdigest() != digest:
        sys.exit("images: package index checksum mismatch")
    index: dict[str, dict] = {}
    for stanza in lzma.decompress(raw).decode().split("\n\n"):
        fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
        if "Package" in fields:
            index[fields["Package"]] = fields
    for old in cache.glob(f"Packages-{arch}-*.json"):
        old.unlink()
    cached.write_text(json.dumps(index))
    return index


def closure(index: dict[str, dict], names: list[str]) -> dict[str, str]:
    """Versions of the packages, their dependencies and the minbase set."""
    todo = list(names) + [p for p, f in index.items() if f.get("Priority") == "required"]
    provides: dict[str, str] = {}
    for pkg, fields in index.items():
        for prov in fields.get("Provides", "").split(","):
            prov = prov.strip().split(" ")[0]
            if prov:
                provides.setdefault(prov, pkg)
    seen: dict[str, str] = {}
    while todo:
        name = todo.pop()
        name = name if name in index else provides.get(name, "")
        if not name or name in seen:
            continue
        fields = index[name]
        seen[name] = fields["Version"]
        for key in ("Pre-Depends", "Depends"):
            for dep in fields.get(key, "").split(","):
                first = dep.split("|")[0].strip().split(" ")[0].split(":")[0]
                if first:
                    todo.append(first)
    return dict(sorted(seen.items()))


def docker(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=True, **kw)


def image_exists(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0


def build_one(name: str, tag: str, packages: list[str], mirror: str, debs: Path) -> float:
    start = time.monotonic()
    rootfs_ref = f"{REPO}/{name}-rootfs:{tag}"
    with tempfile.TemporaryDirectory(prefix=f"vpsmon-{name}-", dir=ROOT / ".cache") as tmp:
        root = Path(tmp) / "root"
        log(f"{name}: debootstrap {SUITE} with {', '.join(packages)}")
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
               f"--cache-dir={debs}", SUITE, str(root), mirror]
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                check=False)
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:])
            sys.exit(f"images: debootstrap failed for {name}")
        for rel in TRIM:
            target = root / rel
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir(parents=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        docker("import", "-", rootfs_ref, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            sys.exit(f"images: tar of the {name} root filesystem failed")
    ref = f"{REPO}/{name}:{tag}"
    docker("build", "-q", "--build-arg", f"BASE={rootfs_ref}", "-t", ref,
           "-t", f"{REPO}/{name}:latest", str(HERE / name), stdout=subprocess.DEVNULL)
    docker("rmi", rootfs_ref, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def image_size(ref: str) -> int:
    out = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", ref],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--out", default=str(ROOT / ".cache" / "images.yml"))
    parser.add_argument("--only", nargs="*", choices=sorted(IMAGES | TEST_IMAGES), help="build these images only")
    args = parser.parse_args()

    cache = ROOT / ".cache" / "images"
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    mirror = debian_mirror()
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True, check=True).stdout.strip()
    started = time.monotonic()
    index = package_index(mirror, arch, cache)

    lines = ["---", "# Written by images/build.py: the offline images built on this machine."]
    test_lines = ["---", "# Written by images/build.py: offline test hosts (never role images)."]
    for name in args.only or [*IMAGES, *TEST_IMAGES]:
        recipe = HERE / name
        packages = recipe.joinpath("packages.txt").read_text().split()
        missing = [p for p in packages if p not in index]
        if missing:
            sys.exit(f"images: {name}: not in {SUITE}: {', '.join(missing)}")
        versions = closure(index, packages)
        recipe_key = {"dockerfile": recipe.joinpath("Dockerfile").read_text(),
                      "packages": packages, "versions": versions, "arch": arch}
        # Other files COPY'd by the Dockerfile count too (only when there are
        # any, so the tags of recipes without them stay as they were).
        extra = {f.name: f.read_text() for f in sorted(recipe.iterdir())
                 if f.is_file() and f.name not in ("Dockerfile", "packages.txt")}
        if extra:
            recipe_key["files"] = extra
        key = json.dumps(recipe_key, sort_keys=True)
        tag = hashlib.sha256(key.encode()).hexdigest()[:12]
        ref = f"{REPO}/{name}:{tag}"
        if image_exists(ref):
            log(f"{name}: {ref} is current ({len(versions)} packages), nothing to build")
        else:
            took = build_one(name, tag, packages, mirror, debs)
            log(f"{name}: built {ref} in {took:.1f}s")
        log(f"{name}: size {image_size(ref) / 1e6:.0f} MB; " +
            ", ".join(f"{p} {versions[p]}" for p in packages if p in versions))
        if name in TEST_IMAGES:
            test_lines.append(f"{TEST_IMAGES[name]}: \"{ref}\"")
        else:
            lines.append(f"{IMAGES[name]}: \"{ref}\"")
    out = Path(args.out)
    for path, content in ((out, lines), (out.with_name("test-images.yml"), test_lines)):
        if len(content) == 2 and (path != out or args.only):
            continue  # nothing of this kind was asked for: leave its file alone
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(content) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    log(f"done in {time.monotonic() - started:.1f}s; variables in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
