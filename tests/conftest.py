"""Test fixtures: a real database per test (SQLite file or PostgreSQL schema), the real app.

Set GOLDTRAIL_TEST_DATABASE_URL=postgresql://... to run the suite on PostgreSQL;
each test then gets its own schema, migrated with the real Alembic migrations.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from app.config import Settings
from app.db import make_engine
from app.keystore import load_or_create_secrets
from app.main import create_app
from app.migrate import upgrade
from app.services.context import LedgerContext
from tests.scenario import partners
from tests.support import ADMIN_TOKEN, Actor, Ledger

SERVER_WORKERS = 3

POSTGRES_URL = os.environ.get("GOLDTRAIL_TEST_DATABASE_URL", "")


def _psycopg_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if POSTGRES_URL:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(_psycopg_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{_psycopg_url(POSTGRES_URL)}?options=-csearch_path%3D{schema}"
        upgrade(url)
        try:
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    else:
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "goldtrail.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    settings = Settings(
        environment="test",
        data_dir=tmp_path,
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        checkpoint_interval_seconds=0,
    )
    load_or_create_secrets(settings)
    return settings


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client_context(client: TestClient) -> LedgerContext:
    """The running app's own context (its engine, settings and service key)."""
    context: LedgerContext = client.app.state.context  # type: ignore[attr-defined]
    return context


@pytest.fixture
def ledger(client: TestClient, engine: Engine) -> Ledger:
    return Ledger(client=client, engine=engine)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A real uvicorn with several workers on a test database, in its own process group,
    so that a test can kill -9 all of it and start it again on the same database."""

    def __init__(self, settings: Settings, log_path: Path, workers: int = SERVER_WORKERS) -> None:
        self.settings = settings
        self.log_path = log_path
        self.workers = workers
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = log_path.parent / "prometheus"
        self.extra_env: dict[str, str] = {}
        """More settings for the next start (``GOLDTRAIL_…``)."""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        env = {
            **os.environ,
            "GOLDTRAIL_ENVIRONMENT": "test",
            "GOLDTRAIL_DATA_DIR": str(self.settings.data_dir),
            "GOLDTRAIL_DATABASE_URL": self.settings.database_url,
            "GOLDTRAIL_ADMIN_TOKEN": ADMIN_TOKEN,
            "GOLDTRAIL_CHECKPOINT_INTERVAL_SECONDS": "0",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **self.extra_env,
        }
        self.metrics_dir.mkdir(exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "app.main:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self.url
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(self.log_path.read_text())
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: no shutdown, no flush."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@pytest.fixture
def server_process(settings: Settings, tmp_path: Path) -> Iterator[ServerProcess]:
    running = ServerProcess(settings, tmp_path / "server.log")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def server(server_process: ServerProcess) -> str:
    """A real uvicorn with several workers on this test's database."""
    return server_process.start()


@pytest.fixture
def actors(ledger: Ledger) -> dict[str, Actor]:
    """The scenario's partners, registered with fresh keys."""
    return partners(ledger)
