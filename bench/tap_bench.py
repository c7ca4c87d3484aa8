"""NFC tap verification per second over HTTP, beside the minimal route, in one run.

Each round starts a real uvicorn server on a fresh database (SQLite, or a fresh database on
--postgres): first the minimal route (``bench/tap_minimal_app.py``: one AES-CMAC and one
committed row), then Goldtrail, where a refiner has registered one NTAG 424 DNA per client
and bound each to a bar. wrk GETs ``/v1/tags/{tag}/tap`` with each tag's SUN messages in
counter order — decrypting PICCData, checking the UID and the SDMMAC, raising the counter in
one conditional update, recording the tap and reading the binding. Every Goldtrail answer
must be ``genuine``. Figures are medians over the rounds; the ratio is taken within each:

    apt-get install wrk
    .venv/bin/python bench/tap_bench.py --workers 1 --clients 16 --seconds 10 --rounds 3
    .venv/bin/python bench/tap_bench.py --workers 2 --clients 32
    .venv/bin/python bench/tap_bench.py --workers 4 --clients 32 \\
        --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

from app.config import Settings
from app.keystore import load_or_create_secrets
from app.ledger.binding.sun import TagKeys, make_sun
from app.ledger.events import EVENT_TYPE, Event
from app.ledger.keys import SigningKey, b64encode
from app.migrate import upgrade
from bench.post_events import TOKEN, _database, _server

LUA = Path(__file__).with_name("taps.lua")


@dataclass
class Run:
    ok: int
    genuine: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


def _wrk(url: str, folder: Path, clients: int, seconds: int) -> Run:
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
            str(folder),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"RESULT (.*)", result.stdout)
    if match is None:
        raise SystemExit(result.stdout + result.stderr)
    f = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    return Run(
        f["ok"], f["genuine"], f["duration_us"] / 1e6, f["p50_us"] / 1000, f["p99_us"] / 1000
    )


def _signed(
    key: SigningKey,
    lot: str,
    action: str,
    data: dict[str, Any],
    prev: str | None,
    stage: str,
    at: str,
) -> tuple[dict[str, Any], str]:
    event = {
        "type": EVENT_TYPE,
        "lot": lot,
        "partner": "bench-refiner",
        "key": key.public.key_id,
        "stage": stage,
        "action": action,
        "occurred_at": at,
        "data": data,
        "prev": prev,
    }
    parsed = Event.from_json(event)
    return {"event": event, "signature": b64encode(key.sign(parsed.canonical))}, parsed.hash


def _bound_tags(url: str, key: SigningKey, clients: int, taps: int, folder: Path) -> None:
    """One bar and one bound tag per client; its tap paths written for wrk, in counter order."""
    admin = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, timeout=60) as client:
        answer = client.post(
            "/v1/admin/partners",
            headers=admin,
            json={
                "id": "bench-refiner",
                "name": "Bench",
                "roles": ["refiner"],
                "public_keys": [key.public.b64],
            },
        )
        answer.raise_for_status()
        auth = {"Authorization": f"Bearer {answer.json()['api_key']}"}
        for c in range(clients):
            lot = f"BAR-{c}"
            intake, head = _signed(
                key,
                lot,
                "recycled_intake",
                {"form": "bar", "mass_g": 1000, "fineness": 999.9},
                None,
                "smelting",
                "2026-01-01T00:00:00Z",
            )
            client.post(f"/v1/lots/{lot}/events", json=intake, headers=auth).raise_for_status()
            uid = bytes.fromhex(f"04{c:012X}")
            tag = client.post("/v1/tags", json={"uid": uid.hex()}, headers=auth).json()
            bound, _ = _signed(
                key,
                lot,
                "tag_bound",
                {"tag": tag["tag"], "tag_uid_digest": tag["uid_digest"]},
                head,
                "circulation",
                "2026-01-01T00:01:00Z",
            )
            client.post(f"/v1/lots/{lot}/events", json=bound, headers=auth).raise_for_status()
            keys = TagKeys(
                bytes.fromhex(tag["keys"]["sdm_meta_read"]),
                bytes.fromhex(tag["keys"]["sdm_file_read"]),
            )
            _write_taps(folder / f"taps-{c}.txt", tag["tag"], keys, uid, taps)


def _write_taps(path: Path, tag: str, keys: TagKeys, uid: bytes, taps: int) -> None:
    lines = []
    for counter in range(1, taps + 1):
        picc, mac = make_sun(keys, uid, counter)
        lines.append(f"/v1/tags/{tag}/tap?picc_data={picc.hex().upper()}&cmac={mac.hex().upper()}")
    path.write_text("\n".join(lines) + "\n")


def main(
    clients: int = typer.Option(16, help="Concurrent connections, one tag each."),
    seconds: int = typer.Option(10, help="How long wrk taps, per run."),
    workers: int = typer.Option(1, help="uvicorn worker processes (both servers)."),
    rounds: int = typer.Option(3, help="Rounds of (minimal route, Goldtrail); medians reported."),
    postgres: str = typer.Option("", help="A PostgreSQL server URL; a fresh database per run."),
) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    taps = max(1000, seconds * 6000 // clients)
    key = SigningKey.generate()
    minimal: list[Run] = []
    ours: list[Run] = []
    ratios: list[float] = []
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            with (
                _database(postgres, folder, f"tapmin{r}") as db_url,
                _server(
                    "bench.tap_minimal_app:create_app", workers, {"BENCH_DATABASE_URL": db_url}
                ) as url,
            ):
                for c in range(clients):  # the baseline reads the same shape of paths
                    _write_taps(
                        folder / f"taps-{c}.txt",
                        f"{c:016x}",
                        TagKeys(bytes(16), bytes(16)),
                        bytes.fromhex(f"04{c:012X}"),
                        taps,
                    )
                base = _wrk(url, folder, clients, seconds)
            with _database(postgres, folder, f"taps{r}") as db_url:
                settings = Settings(data_dir=folder, database_url=db_url, admin_token=TOKEN)
                load_or_create_secrets(settings)
                upgrade(db_url)
                env = {
                    "GOLDTRAIL_DATA_DIR": str(folder),
                    "GOLDTRAIL_DATABASE_URL": db_url,
                    "GOLDTRAIL_ADMIN_TOKEN": TOKEN,
                }
                with _server("app.main:create_app", workers, env) as url:
                    _bound_tags(url, key, clients, taps, folder)
                    run = _wrk(url, folder, clients, seconds)
        minimal.append(base)
        ours.append(run)
        ratios.append(run.rate / base.rate)
        print(
            f"round {r}: minimal {base.rate:,.0f}/s, goldtrail {run.rate:,.0f}/s "
            f"(×{run.rate / base.rate:.2f}); genuine {run.genuine} of {run.ok}",
            flush=True,
        )
        if run.genuine != run.ok:
            raise SystemExit("a tap in counter order was not genuine")

    median = statistics.median
    database = "PostgreSQL" if postgres else "SQLite"
    print()
    print(f"{database}, {workers} worker(s), {clients} clients, {seconds} s runs, {rounds} rounds")
    print("| route | taps/s (median) | p50 | p99 |")
    print("|---|---|---|---|")
    for name, runs in (("minimal route (1 AES-CMAC, 1 row)", minimal), ("Goldtrail tap", ours)):
        print(
            f"| {name} | {median([x.rate for x in runs]):,.0f} | "
            f"{median([x.p50_ms for x in runs]):.1f} ms | {median([x.p99_ms for x in runs]):.1f} ms |"
        )
    print(f"ratio Goldtrail / minimal (median of rounds): {median(ratios):.2f}")


if __name__ == "__main__":
    typer.run(main)
