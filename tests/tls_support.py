"""A self-signed certificate for 127.0.0.1/localhost and the project's nginx config run as it
is, with only ports, certificate paths and (optionally) rates replaced."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers import REPO, free_port, wait_ready

CONFIG = REPO / "nginx" / "cashcc.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    assert found, "nginx is not installed (scripts/system-packages nginx)"
    return found


def self_signed(folder: Path, *, names: tuple[str, ...] = ("localhost",)) -> tuple[Path, Path]:
    """A certificate and key for `names` and 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    *(x509.DNSName(n) for n in names),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cashcc.crt", folder / "cashcc.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Proxy:
    https_port: int
    http_port: int
    cert: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def ssl_context(self, **options: object) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.cert))
        for name, value in options.items():
            setattr(context, name, value)
        return context


def render(folder: Path, *, upstream_port: int, rates: dict[str, str] | None = None) -> Proxy:
    """Write the project's config with local ports and paths into `folder`."""
    cert, key = self_signed(folder)
    proxy = Proxy(https_port=free_port(), http_port=free_port(), cert=cert)
    conf = (
        CONFIG.read_text()
        .replace("127.0.0.1:8000", f"127.0.0.1:{upstream_port}")
        .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{proxy.https_port} ssl http2;")
        .replace("listen 80;", f"listen 127.0.0.1:{proxy.http_port};")
        .replace("/etc/nginx/tls/cashcc.crt", str(cert))
        .replace("/etc/nginx/tls/cashcc.key", str(key))
    )
    for old, new in (rates or {}).items():
        assert old in conf, old
        conf = conf.replace(old, new)
    (folder / "cashcc.conf").write_text(conf)
    return proxy


@contextlib.contextmanager
def nginx(folder: Path, proxy: Proxy) -> Iterator[Proxy]:
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(folder), "-c", "cashcc.conf", "-g", "daemon off;"]
    )
    try:

        def answering() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                verify = proxy.ssl_context()
                return httpx.get(f"{proxy.url}/healthz", verify=verify, timeout=1).is_success
            return False

        wait_ready(process, answering, timeout=20, name="nginx")
        yield proxy
    finally:
        process.terminate()
        process.wait(10)
