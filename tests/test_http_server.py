"""Behaviour over real HTTP: a uvicorn server with several workers, on the test database."""

from __future__ import annotations

import base64
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import Engine, text

from app.ledger.log.merkle import verify_consistency
from app.ledger.log.note import NoteVerifier, open_checkpoint
from tests.conftest import ServerProcess
from tests.support import Actor, Ledger, lot, problem, sign, sign_transformation

CLIENTS = 32
LOTS = 4
EVENTS_PER_CLIENT = 6


def _event_head(api_key: str, length: int) -> bytes:
    """The head of a POST of an event whose body is ``length`` bytes (sent, or not, after)."""
    return (
        b"POST /v1/lots/LOT-1/events HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {api_key}\r\n".encode()
        + f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n".encode()
    )


def test_body_limits_over_real_http(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        geo = Ledger(client=client).partner("kumasi-geo", "explorer")
        headers = {**geo.auth, "Content-Type": "application/json"}
        declared = client.post("/v1/lots/LOT-1/events", content=b"x" * (70 * 1024), headers=headers)
        assert problem(declared, 413)["code"] == "body.too_large"

        def chunks() -> Iterator[bytes]:
            for _ in range(80):
                yield b"x" * 1024

        streamed = client.post("/v1/lots/LOT-1/events", content=chunks(), headers=headers)
        assert streamed.request.headers["transfer-encoding"] == "chunked"
        assert problem(streamed, 413)["code"] == "body.too_large"
        assert problem(client.get("/v1/lots/LOT-1"), 404)["code"] == "lot.unknown"


def test_a_body_sent_too_slowly_is_answered_408_and_closed(
    server_process: ServerProcess,
) -> None:
    """A client that stalls mid-body does not hold its connection: 408 problem+json, closed."""
    server_process.extra_env = {"GOLDTRAIL_BODY_TIMEOUT_SECONDS": "0.5"}
    url = server_process.start()
    with httpx.Client(base_url=url) as client:
        geo = Ledger(client=client).partner("kumasi-geo", "explorer")
    with socket.create_connection(("127.0.0.1", server_process.port), timeout=10) as sock:
        sock.sendall(_event_head(geo.api_key, 100) + b"{")
        started = time.monotonic()
        answer = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            answer += chunk
        waited = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    headers = head.decode().lower()
    assert "content-type: application/problem+json" in headers
    assert "x-content-type-options: nosniff" in headers
    assert "frame-ancestors 'none'" in headers
    problem_doc = json.loads(body)
    assert problem_doc["code"] == "body.timeout"
    assert problem_doc["errors"] == [{"field": "body", "reason": problem_doc["detail"]}]
    assert 0.4 < waited < 5
    assert httpx.get(f"{url}/healthz").status_code == 200  # the server itself is fine


def test_a_body_trickled_steadily_is_cut_off_by_the_total_deadline(
    server_process: ServerProcess,
) -> None:
    """A byte every 0.3 s never stalls for the per-chunk timeout, yet the whole body has a
    deadline: 408 once it passes, not half an hour later."""
    server_process.extra_env = {
        "GOLDTRAIL_BODY_TIMEOUT_SECONDS": "2",
        "GOLDTRAIL_BODY_DEADLINE_SECONDS": "2.5",
    }
    url = server_process.start()
    with httpx.Client(base_url=url) as client:
        geo = Ledger(client=client).partner("kumasi-geo", "explorer")
    with socket.create_connection(("127.0.0.1", server_process.port), timeout=15) as sock:
        sock.sendall(_event_head(geo.api_key, 2000))
        stop = threading.Event()

        def trickle() -> None:
            while not stop.wait(0.3):
                try:
                    sock.sendall(b" ")
                except OSError:
                    return

        sender = threading.Thread(target=trickle, daemon=True)
        started = time.monotonic()
        sender.start()
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        waited = time.monotonic() - started
        stop.set()
        sender.join(timeout=5)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    problem_doc = json.loads(body)
    assert problem_doc["code"] == "body.timeout"
    assert problem_doc["detail"] == "the request body did not arrive within 2.5 s"
    assert 2.3 < waited < 6
    assert problem(httpx.get(f"{url}/v1/lots/LOT-1"), 404)["code"] == "lot.unknown"


def test_a_client_hanging_up_mid_body_is_logged_as_such_not_as_an_error(
    server_process: ServerProcess,
) -> None:
    url = server_process.start()
    with httpx.Client(base_url=url) as client:
        geo = Ledger(client=client).partner("kumasi-geo", "explorer")
    with socket.create_connection(("127.0.0.1", server_process.port), timeout=10) as sock:
        sock.sendall(_event_head(geo.api_key, 100) + b"{")
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    log = ""
    while time.monotonic() < deadline:
        log = server_process.log_path.read_text(errors="replace")
        if "client disconnected before its request body arrived" in log:
            break
        time.sleep(0.1)
    assert "client disconnected before its request body arrived" in log
    assert "Traceback" not in log
    assert "Exception in ASGI application" not in log
    assert httpx.get(f"{url}/healthz").status_code == 200


def _post_until_accepted(url: str, geo: Actor, lot: str, n: int) -> int:
    """Post one event, re-signing over the new head after every 409; returns the tries."""
    with httpx.Client(base_url=url, timeout=30) as client:
        ledger = Ledger(client=client)
        for attempt in range(1, 200):
            event = ledger.event(geo, lot, "exploration", "impact_assessed", {"note": f"n{n}"})
            response = client.post(
                f"/v1/lots/{lot}/events", json=sign(event, geo.key), headers=geo.auth
            )
            if response.status_code == 201:
                return attempt
            assert response.status_code in (409, 503), response.text
            if response.status_code == 409:
                assert response.json()["code"] in ("chain.stale_prev", "time.order")
        raise AssertionError("never accepted")


def test_32_clients_on_the_same_lots_never_fork_lose_or_duplicate(
    server: str, engine: Engine
) -> None:
    with httpx.Client(base_url=server) as client:
        ledger = Ledger(client=client)
        geo = ledger.partner("kumasi-geo", "explorer")
        auditor = ledger.partner("sh-audit", "auditor")
        log_key = NoteVerifier.parse(client.get("/v1/log/key").text)
        lots = [f"LOT-{i}" for i in range(LOTS)]
        for lot in lots:
            ledger.post(geo, lot, "exploration", "site_registered", {"form": "deposit"})
    jobs = [
        (lots[(client_no + k) % LOTS], client_no * 1000 + k)
        for client_no in range(CLIENTS)
        for k in range(EVENTS_PER_CLIENT)
    ]
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        tries = list(pool.map(lambda job: _post_until_accepted(server, geo, *job), jobs))
    assert max(tries) > 1  # the clients really did race
    with engine.connect() as conn:
        seqs = [
            row.seq for row in conn.execute(text("SELECT seq FROM ledger_entries ORDER BY seq"))
        ]
        assert seqs == list(range(len(seqs)))  # gap-free, no duplicate positions
        per_lot = conn.execute(
            text("SELECT lot_id, COUNT(*) AS n, MAX(lot_seq) AS top FROM events GROUP BY lot_id")
        ).all()
        numbers = [
            row.body
            for row in conn.execute(text("SELECT body FROM ledger_entries WHERE kind = 'event'"))
        ]
    assert sum(row.n for row in per_lot) == LOTS + len(jobs)
    assert all(row.top == row.n - 1 for row in per_lot)
    assert len(set(numbers)) == len(numbers)  # nothing appended twice
    with httpx.Client(base_url=server, timeout=60) as client:
        for lot in lots:
            report = client.post(f"/v1/lots/{lot}/verify").json()
            assert report["ok"] is True, report["failures"]
        # Every checkpoint the workers signed while the clients raced extends the one before.
        client.get("/v1/log/checkpoint")
        with engine.connect() as conn:
            sizes = list(conn.execute(text("SELECT size FROM checkpoints ORDER BY size")).scalars())
        assert len(sizes) > 2
        assert sizes[-1] == len(seqs)
        notes = [
            open_checkpoint(client.get(f"/v1/log/checkpoints/{size}").text, log_key)
            for size in sizes
        ]
        for old, new in itertools.pairwise(n for n in notes if n.size > 0):
            answer = client.get(f"/v1/log/proof/consistency?from={old.size}&to={new.size}").json()
            verify_consistency(
                old_size=old.size,
                new_size=new.size,
                old_root=old.root,
                new_root=new.root,
                proof=[base64.b64decode(p) for p in answer["proof"]],
            )
        audit = client.post("/v1/log/audit", headers=auditor.auth).json()
        assert audit["ok"] is True, audit["failures"][:5]
        assert audit["entries"] == len(seqs)


RACES = 10


def _race(url: str, envelopes: list[tuple[dict[str, Any], Actor]]) -> list[httpx.Response]:
    """Post the envelopes at the same instant, each from its own client."""
    start = threading.Barrier(len(envelopes))

    def post(item: tuple[dict[str, Any], Actor]) -> httpx.Response:
        envelope, actor = item
        with httpx.Client(base_url=url, timeout=30) as client:
            start.wait()
            return client.post("/v1/transformations", json=envelope, headers=actor.auth)

    with ThreadPoolExecutor(max_workers=len(envelopes)) as pool:
        return list(pool.map(post, envelopes))


def test_two_racing_spends_of_one_lot_never_both_succeed(server: str, engine: Engine) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        ledger = Ledger(client=client)
        refiner = ledger.partner("ticino-refinery", "refiner", "jeweler")
        auditor = ledger.partner("sh-audit", "auditor")
        bars = [f"BAR-{r}" for r in range(RACES)]
        ledger.transform(
            refiner, "smelting", "recycled_intake", [], [lot(b, "bar", 1000, 999.9) for b in bars]
        )
        for bar in bars:
            # Two whole spends (splits), then two partial ones that together overdraw.
            whole = [
                ledger.transformation(
                    refiner,
                    "smelting",
                    "split",
                    [bar],
                    [lot(f"{bar}-{side}", "grain", 999.9, 1000)],
                )
                for side in "ab"
            ]
            results = _race(server, [(sign_transformation(b, refiner.key), refiner) for b in whole])
            assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
            loser = next(r for r in results if r.status_code == 409).json()
            assert loser["code"] in ("chain.stale_prev", "lot.closed"), loser
        ledger.transform(
            refiner, "smelting", "recycled_intake", [], [lot("BIG", "bar", 1000, 999.9)]
        )
        for r in range(RACES):
            takes = [
                ledger.transformation(
                    refiner,
                    "smelting",
                    "fabricated",
                    [("BIG", 30.0)],
                    [lot(f"RING-{r}-{side}", "jewellery", 40, 750)],
                )
                for side in "ab"
            ]
            results = _race(server, [(sign_transformation(b, refiner.key), refiner) for b in takes])
            assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
        # Re-signed over the new head, a take beyond what is left is refused with the numbers.
        greedy = ledger.transform(
            refiner,
            "smelting",
            "fabricated",
            [("BIG", 900.0)],
            [lot("RING-X", "jewellery", 1200, 750)],
            expect=None,
        )
        body = problem(greedy, 422)
        assert body["code"] == "mass.overdraw"
        left = client.get("/v1/lots/BIG").json()["fine_gold_g"]
        assert body["numbers"] == {"requested_fine_g": "900", "lot_fine_g": left}
        assert 699.88 < float(left) <= 699.9  # 10 × 30 g taken; each remainder rounds down a mg
        audit = client.post("/v1/log/audit", headers=auditor.auth).json()
        assert audit["ok"] is True, audit["failures"][:5]
    with engine.connect() as conn:
        spends = conn.execute(
            text("SELECT lot_id, COUNT(*) AS n FROM events WHERE role = 'input' GROUP BY lot_id")
        ).all()
    assert {row.lot_id: row.n for row in spends} == {**dict.fromkeys(bars, 1), "BIG": RACES}
