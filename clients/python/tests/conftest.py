"""A real Goldtrail server (two uvicorn workers on a fresh SQLite ledger) for the client's tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from goldtrail_client import Key

ADMIN_TOKEN = "client-tests-admin-token-0123456789abcdef"
# The server's own CLI, installed beside this interpreter (the repository's environment).
GOLDTRAIL = str(Path(sys.executable).parent / "goldtrail")


@dataclass
class Server:
    url: str
    env: dict[str, str]
    data_dir: Path

    def register(self, partner: str, *roles: str, country: str | None = "GH") -> tuple[Key, str]:
        """A partner with a fresh key: (its key, its API key)."""
        key = Key.generate()
        answer = httpx.post(
            f"{self.url}/v1/admin/partners",
            json={
                "id": partner,
                "name": partner.replace("-", " ").title(),
                "roles": list(roles),
                "country": country,
                "public_keys": [key.public.b64],
            },
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert answer.status_code == 201, answer.text
        return key, answer.json()["api_key"]

    def goldtrail(self, *args: str) -> str:
        """Run the server's own CLI on this server's settings."""
        done = subprocess.run(
            [GOLDTRAIL, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = _free_port()
    env = {
        **os.environ,
        "GOLDTRAIL_ENVIRONMENT": "test",
        "GOLDTRAIL_DATA_DIR": str(tmp_path),
        "GOLDTRAIL_DATABASE_URL": f"sqlite:///{tmp_path / 'goldtrail.db'}",
        "GOLDTRAIL_ADMIN_TOKEN": ADMIN_TOKEN,
        "GOLDTRAIL_LOG_FORMAT": "text",
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [GOLDTRAIL, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((tmp_path / "server.log").read_text())
        time.sleep(0.2)
    try:
        yield Server(url, env, tmp_path)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
