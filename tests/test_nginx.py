"""The production nginx config is valid and proxies GraphQL to a real uvicorn."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx

from config import Settings
from tests.servers import REPO, free_port, uvicorn_server, wait_until

CONFIG = REPO / "nginx" / "cashcc.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    assert found, "nginx is not installed (.ci/run installs nginx-light)"
    return found


def test_config_is_valid(tmp_path: Path) -> None:
    done = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(CONFIG)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def test_graphql_goes_through_the_proxy(tmp_path: Path, settings: Settings, database) -> None:
    listen = free_port()
    with uvicorn_server(settings) as upstream:
        port = upstream.rsplit(":", 1)[1]
        conf = (
            CONFIG.read_text()
            .replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            .replace("listen 8080;", f"listen 127.0.0.1:{listen};")
        )
        (tmp_path / "cashcc.conf").write_text(conf)
        proc = subprocess.Popen(
            [nginx_binary(), "-p", str(tmp_path), "-c", "cashcc.conf", "-g", "daemon off;"]
        )
        try:
            base = f"http://127.0.0.1:{listen}"

            def proxied() -> bool:
                try:
                    return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(proxied, timeout=20, what="nginx to proxy /healthz")
            body = httpx.post(
                f"{base}/graphql",
                timeout=10,
                json={
                    "query": 'mutation { login(email: "x@example.com", password: "y") '
                    "{ userErrors { code } } }"
                },
            ).json()
            assert body["data"]["login"]["userErrors"] == [{"code": "INVALID_CREDENTIALS"}]
            assert httpx.get(f"{base}/other", timeout=5).status_code == 404
        finally:
            proc.terminate()
            proc.wait(10)
