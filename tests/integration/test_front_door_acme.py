"""The front door's ACME path (roles/proxy with a domain) against a real ACME
server: Pebble, the ACME test server (Debian package ``pebble``), run from the
host's binary in a container on the test's own network.

The domain is the proxy container's own name (``vpsmon-it-acme.test``), which
Docker's DNS resolves to the proxy inside that network, so Pebble's validation
authority really dials the proxy's 80/443 for the HTTP-01 or TLS-ALPN-01
challenge (no "always valid" shortcut). Pebble's own HTTPS endpoint has a
certificate from a throwaway CA made here, which the role hands Caddy as
``proxy_acme_ca_root``.

Needs root, the ``pebble`` binary (apt-get install pebble), openssl, curl and
the offline images.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import requests

from conftest import wait_until
from stack_run import free_port, recap, remove_containers

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PREFIX = "vpsmon-it-acme"
DOMAIN = f"{PREFIX}.test"
PEBBLE = shutil.which("pebble")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not PEBBLE or not shutil.which("openssl") or not shutil.which("curl"),
    reason="needs root, openssl, curl and Pebble (apt-get install pebble) for a real ACME server")


def sh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=True)


def make_listener_ca(work: Path) -> None:
    """A throwaway CA and Pebble's HTTPS certificate (pebble, 127.0.0.1)."""
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", str(work / "ca.key"), "-out", str(work / "ca.pem"), "-days", "2",
       "-subj", "/CN=vpsmon test Pebble listener CA")
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", str(work / "key.pem"), "-out", str(work / "req.csr"), "-subj", "/CN=pebble")
    (work / "ext.cnf").write_text("subjectAltName=DNS:pebble,IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", str(work / "req.csr"), "-CA", str(work / "ca.pem"),
       "-CAkey", str(work / "ca.key"), "-CAcreateserial", "-days", "2", "-extfile", str(work / "ext.cnf"),
       "-out", str(work / "cert.pem"))
    for name in ("key.pem", "cert.pem", "ca.pem"):
        (work / name).chmod(0o644)


@pytest.fixture(scope="module")
def acme(docker_client, images):
    work = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    work.chmod(0o755)
    pebble_dir = work / "pebble"
    pebble_dir.mkdir(mode=0o755)
    make_listener_ca(pebble_dir)
    (pebble_dir / "config.json").write_text(json.dumps({"pebble": {
        "listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000",
        "certificate": "/pebble/cert.pem", "privateKey": "/pebble/key.pem",
        # The challenges go to the proxy's own ports inside the network.
        "httpPort": 80, "tlsPort": 443,
        "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
    (pebble_dir / "config.json").chmod(0o644)
    net = docker_client.networks.create(f"{PREFIX}-net", driver="bridge")
    ports = {"https": free_port(), "http": free_port()}
    made = []
    try:
        endpoint = docker_client.api.create_endpoint_config(aliases=["pebble"])
        pebble = docker_client.containers.run(
            images["docker_exporter_base_image"], name=f"{PREFIX}-pebble", detach=True, user="65534:65534",
            network=net.name, networking_config={net.name: endpoint},
            ports={"15000/tcp": ("127.0.0.1", None)},
            volumes={PEBBLE: {"bind": "/usr/local/bin/pebble", "mode": "ro"},
                     str(pebble_dir): {"bind": "/pebble", "mode": "ro"}},
            # No random sleeps before validating, no random nonce rejections.
            environment={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"},
            command=["pebble", "-config", "/pebble/config.json"])
        made.append(pebble)
        pebble.reload()
        mgmt = f"https://127.0.0.1:{pebble.attrs['NetworkSettings']['Ports']['15000/tcp'][0]['HostPort']}"
        ca = str(pebble_dir / "ca.pem")
        wait_until(lambda: requests.get(mgmt + "/roots/0", verify=ca, timeout=3).ok, 30,
                   what="Pebble's management endpoint")
        (work / "play.yml").write_text("- hosts: localhost\n  gather_facts: false\n"
                                       "  roles:\n    - vps.monitoring.proxy\n")
        varsfile = work / "vars.json"
        varsfile.write_text(json.dumps({
            "ansible_python_interpreter": PYTHON,
            "stack_base_dir": str(work / "stack"), "stack_network": net.name,
            "stack_otel_implementation": "otlp_receiver",
            # The domain is the proxy container's name: Docker's DNS gives Pebble its address.
            "proxy_container_name": DOMAIN, "stack_domain": DOMAIN,
            "proxy_acme_ca": "https://pebble:14000/dir",
            "proxy_acme_ca_root": (pebble_dir / "ca.pem").read_text(),
            "proxy_acme_email": "acme-test@vpsmon.test",
            "proxy_image": images["proxy_image"], "proxy_bind_address": "127.0.0.1",
            "proxy_https_port": ports["https"], "proxy_http_port": ports["http"],
        }))
        varsfile.chmod(0o600)
        env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
               "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_NOCOLOR": "1"}

        def run(*flags: str) -> subprocess.CompletedProcess:
            return subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
                                   "-e", f"@{varsfile}", *flags, str(work / "play.yml")],
                                  capture_output=True, text=True, check=False, env=env, timeout=600)

        first = run()
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:] + \
            pebble.logs(tail=30).decode(errors="replace")
        root = requests.get(mgmt + "/roots/0", verify=ca, timeout=5).text
        (work / "pebble-root.pem").write_text(root)
        yield {"run": run, "first": first, "work": work, "ports": ports, "pebble": pebble,
               "root": work / "pebble-root.pem", "proxy": docker_client.containers.get(DOMAIN)}
    finally:
        remove_containers(docker_client, [DOMAIN, f"{DOMAIN}-validate"])
        for c in made:
            c.remove(force=True)
        net.remove()
        shutil.rmtree(work, ignore_errors=True)


def served_certificate(acme: dict, *curl_args: str) -> subprocess.CompletedProcess:
    port = acme["ports"]["https"]
    return subprocess.run(["curl", "-sS", "-v", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                           "--resolve", f"{DOMAIN}:{port}:127.0.0.1", *curl_args,
                           f"https://{DOMAIN}:{port}/prometheus/"],
                          capture_output=True, text=True, check=False)


def test_certificate_from_the_acme_server(acme):
    """The proxy serves, for its domain, a certificate Pebble issued: it
    verifies against Pebble's root (fetched from Pebble, not from Caddy)."""
    out = served_certificate(acme, "--cacert", str(acme["root"]))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout == "401"  # past TLS: the UI wants its password
    assert "issuer: CN=Pebble Intermediate CA" in out.stderr, out.stderr[-3000:]
    assert f"subject: CN={DOMAIN}" in out.stderr or f'"{DOMAIN}" matched' in out.stderr, out.stderr[-3000:]
    # Not the internal CA: nothing was exported for workstations.
    assert not (acme["work"] / "stack" / "proxy" / "ca" / "root.crt").exists()
    # Without Pebble's root the certificate is not trusted.
    assert served_certificate(acme).returncode != 0


def test_challenge_was_really_validated(acme):
    """Pebble's validation authority dialled the proxy for the domain and the
    challenge passed (no always-valid shortcut in this Pebble)."""
    logs = acme["pebble"].logs().decode(errors="replace")
    assert "PEBBLE_VA_ALWAYS_VALID" not in json.dumps(acme["pebble"].attrs["Config"]["Env"])
    assert f'Value:"{DOMAIN}"' in logs and "set VALID by completed challenge" in logs, logs[-3000:]
    assert "Issued certificate serial" in logs, logs[-3000:]
    # And the proxy itself answered the challenge (certmagic logs serving the key authorization).
    proxy_logs = acme["proxy"].logs().decode(errors="replace")
    assert "served key authentication" in proxy_logs, proxy_logs[-3000:]


def test_caddyfile_uses_the_private_acme_ca(acme):
    config = acme["work"] / "stack" / "proxy" / "config"
    caddyfile = (config / "Caddyfile").read_text()
    assert "acme_ca https://pebble:14000/dir" in caddyfile
    assert "acme_ca_root /etc/caddy/acme_ca_root.pem" in caddyfile
    assert "tls internal" not in caddyfile
    assert (config / "acme_ca_root.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_second_run_changes_nothing(acme):
    again = acme["run"]()
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap(again.stdout)["changed"] == 0, again.stdout[-3000:]


def test_bad_acme_root_is_refused_before_any_change(acme):
    bad = acme["work"] / f"bad-{uuid.uuid4().hex[:6]}.json"
    bad.write_text(json.dumps({"proxy_acme_ca_root": "not a certificate"}))
    try:
        out = acme["run"]("-e", f"@{bad}")
    finally:
        bad.unlink()
    assert out.returncode != 0
    assert "proxy_acme_ca_root must hold PEM certificate(s)" in out.stdout
    assert recap(out.stdout)["changed"] == 0
