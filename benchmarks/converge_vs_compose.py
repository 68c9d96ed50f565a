"""Cold converge of the stack by the playbook, side by side with `docker-compose up -d`.

Both start from no stack containers and an empty TSDB, with the same images
and the same rendered configuration, and both end when Prometheus reports
every scrape target up. The compose file is written from the containers the
playbook created (image, command, user, ports, mounts, health checks), so the
two runs start the same programs. Also times a no-op converge (changed=0).

Needs the stack's images (scripts/deploy.sh builds them) and docker-compose
(Debian's package; installed when missing). Uses the stack's own container
names, so nothing else may run the stack meanwhile. Prints numbers; asserts
nothing.

    .venv/bin/python benchmarks/converge_vs_compose.py [--inventory inventory/localhost.yml]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import docker
import yaml

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["node-exporter", "docker-exporter", "otel-collector", "alertmanager", "grafana", "proxy", "prometheus"]


def playbook(inventory: str, *extra: str) -> tuple[float, str]:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_NOCOLOR="1")
    start = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory,
                           "playbooks/site.yml", "-e", "@.cache/images.yml", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("playbook failed:\n" + proc.stdout[-3000:])
    recap = [line for line in proc.stdout.splitlines() if "changed=" in line][-1].strip()
    return took, recap


# Tasks that never leave the controller: they cost tens of milliseconds each,
# a module run (a Python process on the target) hundreds.
CONTROLLER_ONLY = {"assert", "set_fact", "include_role", "include_tasks", "import_tasks", "debug", "meta",
                   "validate_argument_spec", "fail", "add_host", "group_by"}


def noop_profile(inventory: str) -> tuple[int, int, list[str]]:
    """Tasks, module runs (loop items included) and the tasks that ran a module, of one no-op run."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory,
                           "playbooks/site.yml", "-e", "@.cache/images.yml"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    report = json.loads(proc.stdout)
    tasks, runs, modules = 0, 0, []
    for play in report["plays"]:
        for task in play["tasks"]:
            for result in task["hosts"].values():
                tasks += 1
                loop = result.get("results")
                skipped = result.get("skipped") or (loop is not None and all(r.get("skipped") for r in loop))
                action = result.get("action", "").rsplit(".", 1)[-1]
                if not skipped and action not in CONTROLLER_ONLY:
                    count = sum(1 for r in loop if not r.get("skipped")) if loop else 1
                    runs += count
                    modules.append(f"{task['task']['name']} ({action}, x{count})")
    return tasks, runs, modules


def targets_up(url: str = "http://127.0.0.1:9090") -> bool:
    try:
        with urllib.request.urlopen(url + "/api/v1/targets?state=active", timeout=2) as resp:
            targets = json.load(resp)["data"]["activeTargets"]
    except Exception:  # noqa: BLE001 - not up yet
        return False
    return bool(targets) and all(t["health"] == "up" for t in targets)


def wait_targets(deadline_s: float = 300) -> float:
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        if targets_up():
            return time.monotonic() - start
        time.sleep(0.2)
    sys.exit("targets never all up")


def compose_file(client, names: list[str], network: str) -> dict:
    """A compose v2 file reproducing the running containers."""
    services = {}
    for name in names:
        attrs = client.containers.get(name).attrs
        cfg, host = attrs["Config"], attrs["HostConfig"]
        svc = {"image": cfg["Image"], "container_name": name, "user": cfg.get("User") or None,
               "command": cfg.get("Cmd") or None, "entrypoint": cfg.get("Entrypoint") or None, "read_only": host.get("ReadonlyRootfs", False),
               "restart": "unless-stopped", "networks": [network],
               "volumes": host.get("Binds") or [], "mem_limit": host.get("Memory") or None,
               "cap_drop": host.get("CapDrop") or None, "cap_add": host.get("CapAdd") or None,
               "security_opt": host.get("SecurityOpt") or None, "pid": host.get("PidMode") or None,
               "group_add": host.get("GroupAdd") or None, "environment": cfg.get("Env") or None,
               "extra_hosts": host.get("ExtraHosts") or None}
        if host.get("Tmpfs"):
            svc["tmpfs"] = [f"{path}:{opts}" if opts else path for path, opts in host["Tmpfs"].items()]
        ports = []
        for port, binds in (host.get("PortBindings") or {}).items():
            for bind in binds or []:
                ports.append(f"{bind['HostIp']}:{bind['HostPort']}:{port}")
        svc["ports"] = ports
        health = cfg.get("Healthcheck")
        if health and health.get("Test") and health["Test"] != ["NONE"]:
            svc["healthcheck"] = {"test": health["Test"],
                                  "interval": f"{health.get('Interval', 30_000_000_000) // 1_000_000_000}s"}
        # Compose interpolates $: a literal one is written $$.
        for key in ("command", "environment"):
            if svc.get(key):
                svc[key] = [str(v).replace("$", "$$") for v in svc[key]]
        services[name] = {k: v for k, v in svc.items() if v not in (None, [], {})}
    return {"version": "2.4", "services": services, "networks": {network: {"external": True}}}


def remove(client, names):
    for name in names:
        try:
            client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--inventory", default="inventory/localhost.yml")
    parser.add_argument("--base-dir", default="/opt/vps-monitoring")
    args = parser.parse_args()
    if not shutil.which("docker-compose"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "docker-compose"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), capture_output=True)
    client = docker.from_env()
    data = Path(args.base_dir) / "prometheus" / "data"

    # Converged once, so both runs find images built and configs rendered.
    playbook(args.inventory)
    names = [n for n in NAMES if client.containers.list(all=True, filters={"name": f"^{n}$"})]
    # Three no-op runs: the median, since one run on a busy machine varies.
    noops = [playbook(args.inventory) for _run in range(3)]
    noop, noop_recap = sorted(noops)[1]
    print(f"no-op converge: {noop:.1f} s, median of {', '.join(f'{took:.1f}' for took, _recap in noops)} s "
          f"({noop_recap})", flush=True)
    tasks, module_runs, modules = noop_profile(args.inventory)
    print(f"no-op converge: {tasks} tasks, {module_runs} of them run a module:", flush=True)
    for name in modules:
        print(f"  {name}")

    # Playbook, cold: no containers, empty TSDB.
    remove(client, names)
    shutil.rmtree(data, ignore_errors=True)
    cold, cold_recap = playbook(args.inventory)
    assert targets_up(), "the playbook ended with targets down"
    print(f"playbook cold: {cold:.1f} s ({cold_recap})", flush=True)

    # docker-compose, cold: the same containers, no containers, empty TSDB.
    spec = compose_file(client, names, "monitoring")
    workdir = ROOT / ".cache" / "bench-compose"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "docker-compose.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    remove(client, names)
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    os.chown(data, 65534, 65534)
    start = time.monotonic()
    subprocess.run(["docker-compose", "-p", "vpsmon-bench", "up", "-d"], cwd=workdir, check=True,
                   capture_output=True)
    up = time.monotonic() - start
    ready = wait_targets() + up
    subprocess.run(["docker-compose", "-p", "vpsmon-bench", "down"], cwd=workdir, check=False,
                   capture_output=True)
    remove(client, names)

    # Leave the stack as the playbook makes it.
    playbook(args.inventory)
    print(f"containers: {', '.join(names)}")
    print(f"no-op converge:               {noop:6.1f} s   ({noop_recap}; {tasks} tasks, {module_runs} module runs)")
    print(f"playbook cold, targets up:    {cold:6.1f} s   ({cold_recap})")
    print(f"docker-compose up -d:         {up:6.1f} s, targets up after {ready:6.1f} s")
    print(f"ratio playbook / compose:     {cold / ready:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
