"""Logged lot summaries: when they are logged, what they say, and who catches a false one.

The trust model (PROTOCOL.md §18): a holder checks one level alone — the lot's
own chain replayed from its inputs' summaries, and the lot's own summary against
that replay; whether an input's summary is true is for its own passport, and for
the audit, which replays the whole log and compares every summary.
"""

from __future__ import annotations

from typing import Any

from app.db import write_transaction
from app.ledger.documents.passport import verify_passport
from app.ledger.keys import PublicKey
from app.ledger.log.note import NoteVerifier
from app.services import audit
from app.services.clock import utc_now
from app.services.context import LedgerContext
from app.services.writer import Appender
from tests.readme_lot import LOT, post_readme_lot
from tests.scenario import RING, run_steps
from tests.support import ADMIN, Actor, Ledger


def _summaries(ledger: Ledger, lot: str) -> list[dict[str, Any]]:
    found = []
    size = int(ledger.client.get("/v1/log/checkpoint").text.split("\n")[1])
    for seq in range(size):
        entry = ledger.client.get(f"/v1/log/entries/{seq}").json()["entry"]
        if entry["kind"] == "summary" and entry["body"]["lot"] == lot:
            found.append(entry)
    return found


def test_a_single_chain_is_summarized_where_its_gold_changes(ledger: Ledger) -> None:
    post_readme_lot(ledger)
    bodies = [entry["body"] for entry in _summaries(ledger, LOT)]
    events = ledger.client.get(f"/v1/lots/{LOT}/events").json()["events"]
    actions = {e["hash"]: e["body"]["action"] for e in events}
    # The deposit opens; its rights move (circulation seen); gold appears, is smelted,
    # refined; the sale. Custody steps that change nothing it carries log nothing.
    assert [actions[b["head"]] for b in bodies] == [
        "site_registered",
        "transferred",
        "extracted",
        "smelted",
        "refined",
        "sold",
    ]
    last = bodies[-1]
    assert last["fine_gold_g"] == "546.9453"
    assert last["carbon_kgco2e"] == "21500"
    assert last["grams"] == {
        "country:GH": "546.9453",
        "conflict_unknown": "546.9453",
        "mined": "546.9453",
        "mercury_unknown": "546.9453",
    }
    assert last["length"] == 12
    assert last["head"] == events[-1]["hash"]
    assert [b["length"] for b in bodies] == [1, 3, 5, 6, 9, 12]


def test_each_input_is_summarized_at_the_head_the_transformation_names(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    run_steps(ledger, actors)
    fabricated = ledger.client.get(f"/v1/lots/{RING}/events").json()["events"][0]
    (grain,) = fabricated["body"]["inputs"]
    at_head = [s for s in _summaries(ledger, grain["lot"]) if s["body"]["head"] == grain["prev"]]
    assert len(at_head) == 1
    assert at_head[0]["seq"] < fabricated["seq"]  # logged before the transformation used it


def _forge(ctx: LedgerContext, body: dict[str, Any]) -> int:
    """Append a summary the service signs but the entries do not give: what an operator
    holding the service key could do, and only an audit can show."""
    with write_transaction(ctx.engine) as conn:
        appender = Appender(conn, service_key=ctx.service_key, now=utc_now())
        entry = appender.append_summary(body)
        appender.flush()
    return entry.seq


def test_the_audit_recomputes_every_summary_and_names_a_forged_one(
    ledger: Ledger, actors: dict[str, Actor], client_context: LedgerContext
) -> None:
    run_steps(ledger, actors)
    clean = ledger.client.post("/v1/log/audit", headers=ADMIN).json()
    assert clean["ok"] is True, clean["failures"][:3]
    assert clean["summaries"] > 20
    latest = _summaries(ledger, RING)[-1]["body"]
    forged = _forge(client_context, {**latest, "carbon_kgco2e": "1.5"})
    report = ledger.client.post("/v1/log/audit", headers=ADMIN).json()
    assert report["ok"] is False
    (failure,) = [f for f in report["failures"] if f["check"] == "summary"]
    assert failure["seq"] == forged
    assert failure["lot"] == RING
    assert "carbon_kgco2e: says '1.5', entries give '11.718349088983" in failure["detail"]
    # The ring's own passport now carries the forged summary as the lot's: its holder's
    # replay of the ring's chain shows it false.
    size = int(ledger.client.get("/v1/log/checkpoint").text.split("\n")[1])
    doc = ledger.client.get(f"/v1/lots/{RING}/passport?checkpoint={size}").json()
    assert doc["lot_summary"]["seq"] == forged
    key = NoteVerifier.parse(ledger.client.get("/v1/log/key").text)
    passport_report, _ = verify_passport(doc, log_key=key)
    assert {c.check for c in passport_report.failures} == {"lot summary"}
    service_key = PublicKey.from_b64(ledger.client.get("/v1/service/key").json()["public_key"])
    parallel = audit.run(
        client_context.engine,
        service_key=service_key,
        origin="goldtrail.example/log",
        workers=2,
    )
    assert parallel.to_json()["failures"] == report["failures"]
