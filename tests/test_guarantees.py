"""The write path's guarantees under load, over real HTTP, on the suite's database.

A 2xx means durable, numbered and receipted: a kill -9 of every server process in the
middle of a load of single events and batches loses none of them and duplicates none;
after a restart the log is gap-free, every lot's chain intact and the audit clean. A key
revoked while events signed with it are racing in never leaves an accepted event after
its revocation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, text

from app.ledger.keys import SigningKey
from tests.conftest import ServerProcess
from tests.support import ADMIN, Actor, Ledger, sign

WRITERS = 16
BATCH = 20


@dataclass
class Acknowledged:
    """What the clients were told: entry hash → seq, for every 2xx."""

    seqs: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, hash_: str, seq: int) -> None:
        with self.lock:
            assert self.seqs.setdefault(hash_, seq) == seq, f"{hash_} answered two seqs"


def _writer(
    url: str, actor: Actor, lot: str, acked: Acknowledged, stop: threading.Event, batches: bool
) -> int:
    """Extend one lot's chain until told to stop (or the server dies); return what it sent."""
    sent = 0
    with httpx.Client(base_url=url, timeout=10) as client:
        ledger = Ledger(client=client)
        while not stop.is_set():
            try:
                head = ledger.head(lot)
                if batches:
                    items, prev = [], head
                    for n in range(BATCH):
                        event = ledger.event(
                            actor,
                            lot,
                            "exploration",
                            "impact_assessed",
                            {"note": f"b{n}"},
                            prev=prev,
                        )
                        envelope = sign(event, actor.key)
                        items.append(envelope)
                        prev = _hash(envelope)
                    response = client.post("/v1/batch", json={"items": items}, headers=actor.auth)
                    if response.status_code == 200:
                        for result in response.json()["results"]:
                            if result["status"] in (200, 201):
                                acked.add(result["hash"], result["seq"])
                else:
                    response = ledger.post(
                        actor, lot, "exploration", "impact_assessed", {"note": "s"}, expect=None
                    )
                    if response.status_code in (200, 201):
                        answer = response.json()
                        acked.add(answer["hash"], answer["seq"])
                sent += 1
            except httpx.TransportError:
                time.sleep(0.05)  # the server is down: wait for the restart or the stop
    return sent


def _hash(envelope: dict[str, Any]) -> str:
    from app.ledger.events import Event

    return Event.from_json(envelope["event"]).hash


def _load(url: str, actors: list[Actor], acked: Acknowledged) -> Callable[[], list[int]]:
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=WRITERS)
    futures = [
        pool.submit(_writer, url, actors[n % len(actors)], f"LOAD-{n}", acked, stop, n % 2 == 0)
        for n in range(WRITERS)
    ]

    def finish() -> list[int]:
        stop.set()
        sent = [f.result() for f in futures]
        pool.shutdown()
        return sent

    return finish


def _check_log(engine: Engine, acked: Acknowledged) -> None:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, hash FROM ledger_entries ORDER BY seq")).all()
        per_lot = conn.execute(
            text("SELECT lot_id, COUNT(*) AS n, MAX(lot_seq) AS top FROM events GROUP BY lot_id")
        ).all()
    seqs = [row.seq for row in rows]
    assert seqs == list(range(len(seqs))), "the log has a gap or a duplicate position"
    stored = {row.hash: row.seq for row in rows}
    lost = {h: s for h, s in acked.seqs.items() if stored.get(h) != s}
    assert not lost, f"{len(lost)} acknowledged entries are missing or moved: {list(lost)[:3]}"
    assert len(stored) == len(rows), "an entry was stored twice"
    assert all(row.top == row.n - 1 for row in per_lot), "a lot's chain has a gap"


def seed_load(url: str) -> tuple[list[Actor], Actor]:
    """Four explorers, an auditor, and the deposits the writers of ``_load`` extend."""
    with httpx.Client(base_url=url, timeout=30) as client:
        ledger = Ledger(client=client)
        actors = [ledger.partner(f"geo-{n}", "explorer") for n in range(4)]
        auditor = ledger.partner("sh-audit", "auditor")
        for n in range(WRITERS):
            ledger.post(
                actors[n % len(actors)],
                f"LOAD-{n}",
                "exploration",
                "site_registered",
                {"form": "deposit"},
            )
    return actors, auditor


def test_kill_9_under_load_loses_no_acknowledged_entry(
    server_process: ServerProcess, engine: Engine
) -> None:
    url = server_process.start()
    actors, auditor = seed_load(url)
    acked = Acknowledged()
    for _kill in range(2):
        finish = _load(url, actors, acked)
        time.sleep(2.0)
        before = len(acked.seqs)
        server_process.kill()
        finish()
        assert before > 50, "the load never got going"
        server_process.start()
        _check_log(engine, acked)
    with httpx.Client(base_url=url, timeout=120) as client:
        # A client that never heard back re-posts: the entry is there once, or appended now.
        ledger = Ledger(client=client)
        again = ledger.post(actors[0], "LOAD-0", "exploration", "impact_assessed", {"note": "z"})
        assert again.status_code == 201
        for n in range(WRITERS):
            report = client.post(f"/v1/lots/LOAD-{n}/verify").json()
            assert report["ok"] is True, report["failures"][:3]
        audit = client.post("/v1/log/audit", headers=auditor.auth).json()
        assert audit["ok"] is True, audit["failures"][:5]


def _post_with_key(
    server: str,
    geo: Actor,
    key: SigningKey,
    lot: str,
    start: threading.Barrier,
    acked: Acknowledged,
) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        ledger = Ledger(client=client)
        start.wait()
        for k in range(15):
            response = ledger.post(
                geo, lot, "exploration", "impact_assessed", {"note": f"k{k}"}, key=key, expect=None
            )
            if response.status_code in (200, 201):
                acked.add(response.json()["hash"], response.json()["seq"])
            else:
                assert response.status_code in (403, 409), response.text


def _revoke(
    server: str, geo: Actor, key: SigningKey, start: threading.Barrier, delay: float
) -> httpx.Response:
    with httpx.Client(base_url=server, timeout=30) as client:
        start.wait()
        time.sleep(delay)
        return client.post(f"/v1/partners/me/keys/{key.public.key_id}/revoke", headers=geo.auth)


def test_a_revocation_racing_its_keys_events_leaves_none_after_it(
    server: str, engine: Engine
) -> None:
    lots = [f"RACE-{n}" for n in range(8)]
    with httpx.Client(base_url=server, timeout=30) as client:
        ledger = Ledger(client=client)
        geo = ledger.partner("kumasi-geo", "explorer")
        for lot in lots:
            ledger.post(geo, lot, "exploration", "site_registered", {"form": "deposit"})
    raced = []
    for delay in (0.0, 0.05, 0.15, 0.3):
        key = SigningKey.generate()
        added = httpx.post(
            f"{server}/v1/admin/partners/{geo.id}/keys",
            json={"public_key": key.public.b64},
            headers=ADMIN,
            timeout=30,
        )
        assert added.status_code == 201, added.text
        acked = Acknowledged()
        start = threading.Barrier(len(lots) + 1)
        with ThreadPoolExecutor(max_workers=len(lots) + 1) as pool:
            posts = [
                pool.submit(_post_with_key, server, geo, key, lot, start, acked) for lot in lots
            ]
            revoked = pool.submit(_revoke, server, geo, key, start, delay)
            for future in posts:
                future.result()
        answer = revoked.result()
        assert answer.status_code == 200, answer.text
        revoked_seq = answer.json()["revoked_seq"]
        with engine.connect() as conn:
            signed = (
                conn.execute(
                    text("SELECT seq FROM events WHERE key_id = :key"), {"key": key.public.key_id}
                )
                .scalars()
                .all()
            )
        assert all(seq < revoked_seq for seq in signed), (revoked_seq, max(signed))
        assert set(acked.seqs.values()) == set(signed)  # every acknowledged one, and no other
        raced.append(0 < len(signed) < len(lots) * 15)
    assert any(raced), "the revocation never landed among its key's events: no race happened"
