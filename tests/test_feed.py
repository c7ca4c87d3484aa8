"""A partner's feed end to end on a real multi-worker server: by cursor, as Server-Sent
Events, and to a webhook that is down for a while (PROTOCOL.md §20)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from app.config import Settings
from app.ledger.keys import SigningKey
from app.migrate import downgrade, upgrade
from app.services import audit, feed
from app.services.context import LedgerContext
from app.services.errors import ServiceError
from tests.conftest import ServerProcess
from tests.scenario import STEPS, partners, run_steps
from tests.support import ADMIN, Actor, Ledger, problem, tamper

REFINERY = "ticino-refinery"


def expected_feed(partner: str) -> list[tuple[str, str | None]]:
    """(topic, lot) of every item that concerns ``partner``, from the scenario alone."""
    items: list[tuple[str, str | None]] = [("key", None)]  # its key, registered first
    signed: dict[str, set[str]] = {}
    for step in STEPS:
        by = step["partner"]
        if "outputs" not in step:
            if step["action"] == "transferred" and step["data"]["to"] == partner:
                items.append(("transfer", step["lot"]))
            signed.setdefault(step["lot"], set()).add(by)
            continue
        for lot in step.get("inputs", []):
            if partner in signed.get(lot, set()) - {by}:
                items.append(("consumed", lot))
        for lot in [*step.get("inputs", []), *(o["lot"] for o in step["outputs"])]:
            signed.setdefault(lot, set()).add(by)
    return items


class Receiver:
    """A webhook endpoint that records what it is sent (started late: it is down at first)."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/goldtrail"
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _wait(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _stream(url: str, api_key: str, into: list[dict[str, Any]], stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    # The server stops at the end of the test, closing the stream under the reader.
    with (
        contextlib.suppress(httpx.HTTPError),
        httpx.stream("GET", f"{url}/v1/partners/me/feed/stream", headers=headers, timeout=60) as r,
    ):
        event: dict[str, Any] = {}
        for line in r.iter_lines():
            if line.startswith(("id:", "event:", "data:")):
                name, _, value = line.partition(": ")
                event[name] = value
            elif not line and "data" in event:
                into.append(event)
                event = {}
            if stop.is_set():
                return


def test_a_partners_feed_by_cursor_by_stream_and_by_a_webhook_down_for_a_while(
    server_process: ServerProcess,
) -> None:
    server_process.extra_env = {
        "GOLDTRAIL_WEBHOOK_RETRY_BASE_SECONDS": "0.3",
        "GOLDTRAIL_WEBHOOK_RETRY_MAX_SECONDS": "1.5",
        "GOLDTRAIL_WEBHOOK_POLL_SECONDS": "0.1",
    }
    url = server_process.start()
    receiver = Receiver()
    with httpx.Client(base_url=url, timeout=30) as client:
        ledger = Ledger(client=client)
        actors = partners(ledger)
        refinery = actors[REFINERY].auth
        hook = client.put("/v1/partners/me/webhook", json={"url": receiver.url}, headers=refinery)
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        assert secret.startswith("whsec_")
        assert "secret" not in client.get("/v1/partners/me/webhook", headers=refinery).json()

        streamed: list[dict[str, Any]] = []
        stop = threading.Event()
        listener = threading.Thread(
            target=_stream, args=(url, actors[REFINERY].api_key, streamed, stop), daemon=True
        )
        listener.start()
        run_steps(ledger, actors)

        # By cursor, three items a page: exactly what the scenario says concerns the refinery.
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            page = client.get(
                "/v1/partners/me/feed", params={"after": after, "limit": 3}, headers=refinery
            ).json()
            items += page["items"]
            if not page["items"]:
                break
            after = page["next_after"]
        assert [(i["topic"], i["lot"]) for i in items] == expected_feed(REFINERY)
        assert [i["id"] for i in items] == sorted(i["id"] for i in items)
        for item in items:
            assert item["entry"]["seq"] == item["seq"]
            if item["topic"] == "transfer":
                assert item["entry"]["body"]["data"]["to"] == REFINERY
                assert item["awaiting_receipt"] is False  # it posted received for each
        only = client.get(
            "/v1/partners/me/feed", params={"topic": "consumed"}, headers=refinery
        ).json()["items"]
        assert [i["topic"] for i in only] == ["consumed"] * len(only)
        assert len(only) == sum(1 for topic, _ in expected_feed(REFINERY) if topic == "consumed")
        for other in ("obuasi-ridge", "hk-heritage", "kumasi-geo"):
            mine = client.get("/v1/partners/me/feed", headers=actors[other].auth).json()
            assert [(i["topic"], i["lot"]) for i in mine["items"]] == expected_feed(other)

        # As a stream: the same items, in the same order.
        _wait(lambda: len(streamed) >= len(items), "the stream")
        stop.set()
        assert [int(e["id"]) for e in streamed[: len(items)]] == [i["id"] for i in items]
        assert [e["event"] for e in streamed[: len(items)]] == [i["topic"] for i in items]

        # The webhook was down: every attempt failed, each later than the one before.
        _wait(
            lambda: (
                len(
                    client.get("/v1/partners/me/webhook/deliveries", headers=refinery).json()[
                        "deliveries"
                    ]
                )
                >= 3
            ),
            "three failed attempts",
        )
        state = client.get("/v1/partners/me/webhook", headers=refinery).json()
        assert state["attempts"] >= 3
        assert state["next_attempt_at"] is not None
        failed = client.get("/v1/partners/me/webhook/deliveries", headers=refinery).json()
        times = [d["next_attempt_at"] for d in failed["deliveries"]]
        assert all(d["status"] is None and d["error"] for d in failed["deliveries"])
        assert times == sorted(times)

        # Up again: everything since the webhook was set arrives, in order, signed.
        receiver.start()
        try:
            wanted = [i["id"] for i in items if i["topic"] != "key"]
            delivered: list[int] = []

            def all_delivered() -> bool:
                delivered[:] = [
                    item["id"]
                    for _, body in receiver.received
                    for item in json.loads(body)["items"]
                ]
                return delivered[-len(wanted) :] == wanted if delivered else False

            _wait(all_delivered, "the webhook deliveries")
            for headers, body in receiver.received:
                stamp, mac = dict(
                    part.split("=", 1) for part in headers["Goldtrail-Signature"].split(",")
                ).values()
                expected = hmac.new(
                    secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256
                ).hexdigest()
                assert hmac.compare_digest(mac, expected)
                assert json.loads(body)["partner"] == REFINERY
            assert delivered == wanted  # at least once, and here exactly once, in order
            _wait(
                lambda: (
                    client.get("/v1/partners/me/webhook", headers=refinery).json()[
                        "delivered_through"
                    ]
                    == wanted[-1]
                ),
                "the delivery to be recorded",
            )
            log = client.get("/v1/partners/me/webhook/deliveries", headers=refinery).json()
            last = log["deliveries"][-1]
            assert (last["status"], last["error"], last["last_item"]) == (204, None, wanted[-1])
            scraped = client.get("/metrics").text
            counts = {
                outcome: float(value)
                for outcome, value in re.findall(
                    r'^goldtrail_webhook_deliveries_total\{outcome="(\w+)"\} (\S+)$',
                    scraped,
                    re.MULTILINE,
                )
            }
            assert counts["failed"] >= 3
            assert counts["delivered"] >= 1
            settled = client.get("/v1/partners/me/webhook", headers=refinery).json()
            assert (settled["attempts"], settled["delivered_through"]) == (0, wanted[-1])
        finally:
            receiver.stop()

        # A transfer not yet received shows as awaiting; a bad URL and no key are refused.
        vault = actors["waigaoqiao-vault"]
        lot = "HK-GR-0820-B"
        when = "2026-11-01T00:00:00Z"
        heritage = actors["hk-heritage"]
        ledger.post(heritage, lot, "circulation", "transferred", {"to": vault.id}, occurred_at=when)
        pending = client.get(
            "/v1/partners/me/feed", params={"topic": "transfer"}, headers=vault.auth
        ).json()["items"]
        assert (pending[-1]["lot"], pending[-1]["awaiting_receipt"]) == (lot, True)
        waiting = client.get(
            "/v1/partners/me/feed", params={"awaiting": "true"}, headers=vault.auth
        ).json()["items"]
        assert [(i["topic"], i["lot"]) for i in waiting] == [
            ("transfer", lot)
        ]  # the others: received
        ledger.post(vault, lot, "circulation", "received", {}, occurred_at=when)
        assert (
            client.get(
                "/v1/partners/me/feed", params={"awaiting": "true"}, headers=vault.auth
            ).json()["items"]
            == []
        )
        bad = client.put("/v1/partners/me/webhook", json={"url": "ftp://x"}, headers=refinery)
        assert problem(bad, 422)["errors"][0]["field"] in ("url", "body.url")
        assert client.get("/v1/partners/me/feed").status_code == 401
        assert client.delete("/v1/partners/me/webhook", headers=refinery).status_code == 204
        assert problem(client.get("/v1/partners/me/webhook", headers=refinery), 404)["code"] == (
            "webhook.none"
        )


def test_in_production_a_webhook_must_be_https_to_a_host_on_the_internet(
    client_context: LedgerContext,
) -> None:
    production = LedgerContext(
        client_context.engine,
        client_context.settings.model_copy(update={"environment": "production"}),
        client_context.service_key,
    )
    for url in (
        "http://partner.example/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://[::1]/hook",
        "https://vault.internal/hook",
        "https://localhost:8443/hook",
    ):
        with pytest.raises(ServiceError) as refused:
            feed.set_webhook(production, "any-partner", url)
        assert (refused.value.code, refused.value.field) == ("webhook.url", "url"), url


def test_the_upgrade_fills_the_feed_as_the_writer_keeps_it(
    ledger: Ledger, actors: dict[str, Actor], settings: Settings, engine: Engine
) -> None:
    """A ledger logged before the feed existed gets, from `goldtrail db upgrade`, the items
    the writer would have kept: downgrade below the feed, upgrade, compare."""
    run_steps(ledger, actors)
    read = "SELECT partner_id, topic, lot_id, seq FROM feed ORDER BY id"
    with engine.connect() as conn:
        kept = [tuple(row) for row in conn.execute(text(read))]
    assert len({row[1] for row in kept}) == 3  # transfers, consumed lots and keys
    engine.dispose()
    downgrade(settings.database_url, "0004")
    upgrade(settings.database_url)
    with engine.connect() as conn:
        filled = [tuple(row) for row in conn.execute(text(read))]
    assert filled == kept


def test_the_audit_catches_a_feed_changed_behind_the_services_back(
    ledger: Ledger, actors: dict[str, Actor], settings: Settings, engine: Engine
) -> None:
    run_steps(ledger, actors)
    key = SigningKey.load(settings.service_key_path).public
    clean = audit.run(engine, service_key=key, origin=settings.log_origin)
    assert clean.ok, clean.failures
    with engine.connect() as conn:
        hidden = conn.execute(
            text("SELECT id, seq FROM feed WHERE topic = 'transfer' ORDER BY id LIMIT 1")
        ).one()
    tamper(engine, "DELETE FROM feed WHERE id = :i", i=hidden.id)  # a transfer kept from a partner
    report = audit.run(engine, service_key=key, origin=settings.log_origin)
    assert [f["check"] for f in report.failures] == ["feed"]
    assert report.failures[0]["seq"] == hidden.seq


def test_a_feed_stream_ends_when_its_api_key_is_reissued(server: str) -> None:
    """The old key gets 401 on /feed after the admin reissues it; a stream opened with it
    must not keep delivering: it sends `end` with the reason and closes."""
    with httpx.Client(base_url=server) as client:
        ledger = Ledger(client=client)
        vault = ledger.partner("geneva-vault", "vault")
        streamed: list[dict[str, Any]] = []
        stop = threading.Event()
        reader = threading.Thread(
            target=_stream, args=(server, vault.api_key, streamed, stop), daemon=True
        )
        reader.start()
        _wait(lambda: len(streamed) >= 1, "the partner's own key item")
        assert streamed[0]["event"] == "key"

        reissued = client.post(f"/v1/admin/partners/{vault.id}/api-key", headers=ADMIN)
        assert reissued.status_code == 200, reissued.text
        reader.join(timeout=15)
        assert not reader.is_alive(), "the stream outlived its key"
        assert streamed[-1]["event"] == "end"
        assert json.loads(streamed[-1]["data"]) == {"reason": feed.KEY_NO_LONGER_VALID}

        # A new item for the partner reaches the new key's feed, never the old stream.
        second = SigningKey.generate()
        added = client.post(
            f"/v1/admin/partners/{vault.id}/keys",
            json={"public_key": second.public.b64},
            headers=ADMIN,
        )
        assert added.status_code == 201, added.text
        old = client.get("/v1/partners/me/feed", headers=vault.auth)
        assert problem(old, 401)["code"] == "auth.invalid"
        new_key = {"Authorization": f"Bearer {reissued.json()['api_key']}"}
        items = client.get("/v1/partners/me/feed", headers=new_key).json()["items"]
        assert [item["topic"] for item in items] == ["key", "key"]
        assert [e["event"] for e in streamed] == ["key", "end"]
