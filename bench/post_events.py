"""Signed events per second through the HTTP API, from concurrent clients.

Starts a real uvicorn server on a fresh database (SQLite by default, or
--database-url postgresql://...), registers a partner, pre-signs one long chain
per client (signing is the client's work, not what is measured), then has `wrk`
post them: one connection per client, each posting its own lot's chain in
order. Prints events/s and latency percentiles, then verifies the chains and
checks the ledger is gap-free. Python HTTP clients top out near 650 requests/s
on this machine, so the load comes from wrk (Debian package `wrk`). Run by hand:

    .venv/bin/python bench/post_events.py --clients 32 --seconds 10 --workers 2
    .venv/bin/python bench/post_events.py --postgres postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import typer
from sqlalchemy import create_engine, text

from app.config import Settings
from app.db import make_engine
from app.keystore import load_or_create_secrets
from app.ledger.events import EVENT_TYPE, Event
from app.ledger.keys import SigningKey, b64encode
from app.migrate import upgrade

TOKEN = "bench-admin-token-0123456789abcdefghijklmnop"
LUA = Path(__file__).with_name("post_events.lua")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def signed_chain(partner: str, key: SigningKey, lot: str, length: int) -> list[dict[str, Any]]:
    """A lot's chain of ``length`` events, each signed over the previous one's hash."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    prev: str | None = None
    envelopes = []
    for i in range(length):
        event = {
            "type": EVENT_TYPE,
            "lot": lot,
            "partner": partner,
            "key": key.public.key_id,
            "stage": "exploration",
            "action": "site_registered" if i == 0 else "impact_assessed",
            "occurred_at": (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": {"form": "deposit"}
            if i == 0
            else {"note": f"assessment {i}", "water_m3": 12.5},
            "prev": prev,
        }
        parsed = Event.from_json(event)
        envelopes.append({"event": event, "signature": b64encode(key.sign(parsed.canonical))})
        prev = parsed.hash
    return envelopes


@contextmanager
def _database(postgres: str, folder: Path) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    name = f"goldtrail_bench_{os.getpid()}"
    admin = create_engine(
        "postgresql+psycopg://" + postgres.split("://", 1)[1], isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield postgres.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def _wait_ready(url: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def main(
    clients: int = typer.Option(32, help="Concurrent connections, one lot each."),
    seconds: int = typer.Option(10, help="How long wrk posts."),
    workers: int = typer.Option(2, help="uvicorn worker processes."),
    chain: int = typer.Option(1200, help="Pre-signed events per client (must outlast the run)."),
    postgres: str = typer.Option(
        "", help="A PostgreSQL server URL; the run uses a fresh database on it, then drops it."
    ),
) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp, _database(postgres, Path(tmp)) as db_url:
        data = Path(tmp)
        settings = Settings(data_dir=data, database_url=db_url, admin_token=TOKEN)
        load_or_create_secrets(settings)
        upgrade(db_url)
        port = _free_port()
        env = {
            **os.environ,
            "GOLDTRAIL_DATA_DIR": tmp,
            "GOLDTRAIL_DATABASE_URL": db_url,
            "GOLDTRAIL_ADMIN_TOKEN": TOKEN,
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:create_app",
                "--factory",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url)
            key = SigningKey.generate()
            answer = httpx.post(
                f"{url}/v1/admin/partners",
                json={
                    "id": "bench-geo",
                    "name": "Bench",
                    "roles": ["explorer"],
                    "public_keys": [key.public.b64],
                },
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            answer.raise_for_status()
            api_key = answer.json()["api_key"]
            for c in range(clients):
                lines = (json.dumps(e) for e in signed_chain("bench-geo", key, f"BENCH-{c}", chain))
                (data / f"chain-{c}.jsonl").write_text("\n".join(lines) + "\n")
            result = subprocess.run(
                [
                    "wrk",
                    f"-t{clients}",
                    f"-c{clients}",
                    f"-d{seconds}s",
                    "--timeout",
                    "10s",
                    "-s",
                    str(LUA),
                    url,
                    "--",
                    str(data),
                    api_key,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            reports = [
                httpx.post(f"{url}/v1/lots/BENCH-{c}/verify", timeout=120).json()
                for c in range(clients)
            ]
        finally:
            server.terminate()
            server.wait()
        engine = make_engine(db_url)
        with engine.connect() as conn:
            seqs = conn.execute(
                text("SELECT COUNT(*), MIN(seq), MAX(seq) FROM ledger_entries")
            ).one()
        engine.dispose()
    match = re.search(r"RESULT (.*)", result.stdout)
    if match is None:
        raise SystemExit(result.stdout + result.stderr)
    fields = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    duration = fields["duration_us"] / 1e6
    print(f"database       {db_url.split(':')[0].split('+')[0]}")
    print(f"workers        {workers}")
    print(f"clients        {clients}")
    print(f"accepted       {fields['posted']} events in {duration:.1f} s")
    print(f"refused        {fields['failed']}")
    print(f"throughput     {fields['posted'] / duration:.0f} events/s")
    print(f"latency p50    {fields['p50_us'] / 1000:.1f} ms")
    print(f"latency p90    {fields['p90_us'] / 1000:.1f} ms")
    print(f"latency p99    {fields['p99_us'] / 1000:.1f} ms")
    print(f"chains verify  {sum(r.get('ok') is True for r in reports)}/{clients}")
    print(f"first report   {reports[0].get('checked', reports[0])} checks")
    count, low, high = seqs
    print(f"ledger         {count} entries, seq {low}..{high}, gap-free: {high - low + 1 == count}")


if __name__ == "__main__":
    typer.run(main)
