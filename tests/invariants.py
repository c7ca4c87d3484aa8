"""Invariants that must hold for every lot of every ledger a test builds.

``check_every_lot`` reads every lot the database knows and asks the API for its
metrics, as a user would; then it replays the whole ledger offline. Whatever the
lot's shape — a single chain whose gold appears in place, an output of a
transformation, a melt of many inputs — its metrics state the fine gold its lot
state holds, and fine gold, emissions and every gram attribute are conserved
across the ledger: what entered is held by some lot or was lost.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.db import read_transaction
from app.ledger.provenance.balance import ARITHMETIC, plain
from app.ledger.provenance.metrics import Replay, lot_metrics, partner_countries
from app.ledger.provenance.summaries import summary_body
from app.models import repository
from tests.support import Ledger

EXACT = Decimal("1e-18")
MICROGRAM = Decimal("1e-6")


def _replay_everything(ledger: Ledger) -> tuple[Replay, dict[str, Any], dict[str, Any]]:
    """The whole ledger replayed, every lot's state, and each lot's latest logged summary."""
    assert ledger.engine is not None
    with read_transaction(ledger.engine) as conn:
        states = {state.lot: state for state in repository.iter_lots(conn)}
        entries = [entry for entry, _ in repository.iter_entries(conn)]
    countries = partner_countries(e for e in entries if e.kind == "partner")
    latest = {e.body["lot"]: e.body for e in entries if e.kind == "summary"}
    return Replay(None, countries).run(entries), states, latest


def check_every_lot(ledger: Ledger) -> int:
    """Assert the invariants for every lot; return how many lots hold stated gold."""
    replay, states, summaries = _replay_everything(ledger)
    with_gold = 0
    for lot, state in sorted(states.items()):
        metrics = ledger.client.get(f"/v1/lots/{lot}/metrics")
        assert metrics.status_code == 200, (lot, metrics.text)
        served = metrics.json()
        fine = state.fine_gold_g
        if fine is None:  # a deposit: no stated gold, no grade
            assert served["fine_gold_g"] == "0", (lot, served)
            assert served["grade"] is None, (lot, served)
            continue
        if state.consumed_by is not None:
            assert served == lot_metrics(replay, lot), (lot, served)
            assert served["as_of"] == "before it was consumed", (lot, served)
            assert Decimal(served["fine_gold_g"]) > 0, (lot, served)
            continue
        # The metrics the service states (from the lot's summary) are the full replay's.
        assert served == lot_metrics(replay, lot), (lot, served)
        with_gold += 1
        stated = plain(fine.quantize(MICROGRAM, context=ARITHMETIC))
        assert served["fine_gold_g"] == stated, (lot, served["fine_gold_g"], stated)
        assert served["grade"] in ("A", "B", "C", "D", "E"), (lot, served)
        assert Decimal(served["carbon_kgco2e"]) >= 0, (lot, served)
        carried = replay.lots[lot]
        assert abs(carried.fine_g - fine) < EXACT, (lot, carried.fine_g, fine)
    for lot, body in summaries.items():
        # What composing summaries gave the service is what replaying everything gives.
        replayed = summary_body(
            lot, head=body["head"], length=body["length"], carried=replay.lots[lot]
        )
        assert body == replayed, (lot, body, replayed)
    assert set(summaries) == set(states), set(states) ^ set(summaries)
    _conserved(replay)
    return with_gold


def _conserved(replay: Replay) -> None:
    lots = list(replay.lots.values())
    held = sum((c.fine_g for c in lots), Decimal(0))
    assert abs(held + replay.lost.fine_g - replay.originated.fine_g) < EXACT
    attributed = sum((c.carbon_kg for c in lots), Decimal(0))
    assert abs(attributed + replay.lost.carbon_kg - replay.emitted_kg) < EXACT, (
        attributed,
        replay.lost.carbon_kg,
        replay.emitted_kg,
    )
    for name, grams in replay.originated.grams.items():
        total = sum((c.gram(name) for c in lots), Decimal(0)) + replay.lost.gram(name)
        assert abs(total - grams) < EXACT, name
