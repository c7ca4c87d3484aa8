"""Signed events per second through the HTTP API, beside the minimal route, in one run.

For each round, starts a real uvicorn server on a fresh database (SQLite, or a
fresh database on --postgres), registers a partner, pre-signs one long chain per
client (signing is the client's work, not what is measured) and has `wrk` post
them — one connection per client, each posting its own lot's chain in order.
Each round first measures the minimal route (``bench/minimal_app.py``: Pydantic
parse, RFC 8785, Ed25519 verify, one committed row) with the same wrk settings,
then Goldtrail; the figures are medians over the rounds and the ratio is taken
within each round. After each Goldtrail run it checks every chain verifies, the
ledger's seq is gap-free, and reads from the database how long each entry waited
for a signed checkpoint. With --batch N, Goldtrail's clients post N events per
request to the batch endpoint instead. Python HTTP clients top out near 650
requests/s on this machine, so the load comes from wrk (Debian package `wrk`):

    .venv/bin/python bench/post_events.py --workers 1 --clients 16 --seconds 10 --rounds 3
    .venv/bin/python bench/post_events.py --workers 2 --clients 32
    .venv/bin/python bench/post_events.py --batch 100 --clients 8
    .venv/bin/python bench/post_events.py --workers 4 --clients 32 \\
        --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
def _database(postgres: str, folder: Path, name: str) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{folder / f'{name}.db'}"
        return
    database = f"goldtrail_bench_{name}_{os.getpid()}"
    admin = create_engine(
        "postgresql+psycopg://" + postgres.split("://", 1)[1], isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {database}"))
    try:
        yield postgres.rsplit("/", 1)[0] + "/" + database
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {database} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def _server(factory: str, workers: int, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        # The server logs a JSON line per request, as in production; the lines are dropped.
        env={**os.environ, "GOLDTRAIL_LOG_FORMAT": "json", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{factory} did not become ready")
        yield url
    finally:
        process.terminate()
        process.wait()


@dataclass
class Run:
    events: int
    seconds: float
    refused: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def _wrk(
    url: str, data: Path, api_key: str, prefix: str, clients: int, seconds: int, batch: int
) -> Run:
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
            prefix,
            str(batch),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"RESULT (.*)", result.stdout)
    if match is None:
        raise SystemExit(result.stdout + result.stderr)
    fields = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    return Run(
        events=fields["posted"],
        seconds=fields["duration_us"] / 1e6,
        refused=fields["failed"],
        p50_ms=fields["p50_us"] / 1000,
        p90_ms=fields["p90_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
    )


def _write_chains(
    data: Path, key: SigningKey, prefix: str, clients: int, length: int, batch: int
) -> None:
    for c in range(clients):
        chain = signed_chain("bench-geo", key, f"{prefix}-{c}", length)
        if batch > 1:
            lines = (json.dumps({"items": chain[i : i + batch]}) for i in range(0, length, batch))
        else:
            lines = (json.dumps(envelope) for envelope in chain)
        (data / f"{prefix}-{c}.jsonl").write_text("\n".join(lines) + "\n")


def _minimal(postgres: str, folder: Path, key: SigningKey, args: dict[str, Any]) -> Run:
    with _database(postgres, folder, "minimal") as db_url:
        env = {"BENCH_DATABASE_URL": db_url, "BENCH_PUBLIC_KEY": key.public.b64}
        with _server("bench.minimal_app:create_app", args["workers"], env) as url:
            return _wrk(url, folder, "-", "MIN", args["clients"], args["seconds"], 1)


def _inclusion(db_url: str) -> tuple[float, float, int, int]:
    """Seconds from each entry's recorded_at to the first checkpoint that covers it."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        stamps = [
            row[0]
            for row in conn.execute(text("SELECT recorded_at FROM ledger_entries ORDER BY seq"))
        ]
        checkpoints = conn.execute(
            text("SELECT size, issued_at FROM checkpoints ORDER BY size")
        ).all()
        count, low, high = conn.execute(
            text("SELECT COUNT(*), MIN(seq), MAX(seq) FROM ledger_entries")
        ).one()
    engine.dispose()

    def moment(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    waits = []
    at = 0
    for seq, recorded in enumerate(stamps):
        while at < len(checkpoints) and checkpoints[at][0] <= seq:
            at += 1
        if at < len(checkpoints):
            waits.append((moment(checkpoints[at][1]) - moment(recorded)).total_seconds())
    waits.sort()
    p50 = waits[len(waits) // 2] if waits else float("nan")
    p99 = waits[int(len(waits) * 0.99)] if waits else float("nan")
    gap_free = int(high - low + 1 == count)
    return p50, p99, count, gap_free


def _goldtrail(
    postgres: str, folder: Path, key: SigningKey, prefix: str, args: dict[str, Any]
) -> tuple[Run, int, tuple[float, float, int, int]]:
    with _database(postgres, folder, f"goldtrail_{prefix.lower()}") as db_url:
        settings = Settings(data_dir=folder, database_url=db_url, admin_token=TOKEN)
        load_or_create_secrets(settings)
        upgrade(db_url)
        env = {
            "GOLDTRAIL_DATA_DIR": str(folder),
            "GOLDTRAIL_DATABASE_URL": db_url,
            "GOLDTRAIL_ADMIN_TOKEN": TOKEN,
        }
        with _server("app.main:create_app", args["workers"], env) as url:
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
            run = _wrk(
                url,
                folder,
                answer.json()["api_key"],
                prefix,
                args["clients"],
                args["seconds"],
                args["batch"],
            )
            verified = sum(
                httpx.post(f"{url}/v1/lots/{prefix}-{c}/verify", timeout=300).json().get("ok")
                is True
                for c in range(args["clients"])
            )
            time.sleep(max(1.5, args["checkpoint_wait"]))  # let the last checkpoint be signed
        return run, verified, _inclusion(db_url)


def main(
    clients: int = typer.Option(16, help="Concurrent connections, one lot each."),
    seconds: int = typer.Option(10, help="How long wrk posts, per run."),
    workers: int = typer.Option(1, help="uvicorn worker processes (both servers)."),
    rounds: int = typer.Option(3, help="Rounds of (minimal route, Goldtrail); medians reported."),
    chain: int = typer.Option(0, help="Pre-signed events per client (0: enough for the run)."),
    batch: int = typer.Option(1, help="Events per request: >1 posts to POST /v1/batch."),
    postgres: str = typer.Option(
        "", help="A PostgreSQL server URL; each run uses a fresh database on it, then drops it."
    ),
) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    length = chain or max(2000, seconds * 12000 // clients) * (1 if batch == 1 else 4)
    args = {
        "clients": clients,
        "seconds": seconds,
        "workers": workers,
        "batch": batch,
        "checkpoint_wait": 1.0,
    }
    key = SigningKey.generate()
    minimal: list[Run] = []
    ours: list[Run] = []
    ratios: list[float] = []
    checks: list[str] = []
    inclusion: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write_chains(folder, key, "MIN", clients, length, 1)
        for r in range(rounds):
            prefix = f"R{r}"
            _write_chains(folder, key, prefix, clients, length, batch)
            base = _minimal(postgres, folder, key, args)
            run, verified, (p50, p99, count, gap_free) = _goldtrail(
                postgres, folder, key, prefix, args
            )
            minimal.append(base)
            ours.append(run)
            ratios.append(run.rate / base.rate)
            inclusion.append((p50, p99))
            checks.append(
                f"round {r}: minimal {base.rate:,.0f}/s, goldtrail {run.rate:,.0f}/s "
                f"(×{run.rate / base.rate:.2f}); refused {run.refused}; chains verify "
                f"{verified}/{clients}; {count} entries, gap-free {bool(gap_free)}"
            )
            print(checks[-1], flush=True)

    def median(values: list[float]) -> float:
        return statistics.median(values)

    database = "PostgreSQL" if postgres else "SQLite"
    what = "POST /v1/batch" if batch > 1 else "POST /v1/lots/{lot}/events"
    print()
    print(
        f"{database}, {workers} worker(s), {clients} clients, {seconds} s runs, {rounds} rounds; Goldtrail: {what}"
        + (f", {batch} events per request" if batch > 1 else "")
    )
    print("| route | events/s (median) | p50 | p99 |")
    print("|---|---|---|---|")
    for name, runs in (("minimal route", minimal), ("Goldtrail", ours)):
        print(
            f"| {name} | {median([x.rate for x in runs]):,.0f} | "
            f"{median([x.p50_ms for x in runs]):.1f} ms | {median([x.p99_ms for x in runs]):.1f} ms |"
        )
    print(f"ratio Goldtrail / minimal (median of rounds): {median(ratios):.2f}")
    print(
        f"request → signed checkpoint: p50 {median([i[0] for i in inclusion]):.3f} s, "
        f"p99 {median([i[1] for i in inclusion]):.3f} s (from recorded_at; add the request latency)"
    )


if __name__ == "__main__":
    typer.run(main)
