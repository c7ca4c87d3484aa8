"""What the ingest routes answer: an accepted event or transformation, or a refusal, as JSON.

The single routes and the batch route answer each entry the same way.
"""

from __future__ import annotations

from typing import Any

from app.ledger.provenance.balance import plain
from app.models.schemas import LotOut, TakenOut, TransformedOut
from app.services.ingest import Accepted, Transformed

__all__ = ["accepted_event", "transformed"]


def accepted_event(accepted: Accepted) -> dict[str, Any]:
    """The answer to an event (``AcceptedOut``), built directly: thousands a second."""
    entry = accepted.entry
    return {
        "hash": entry.hash,
        "seq": entry.seq,
        "lot": accepted.lot,
        "lot_seq": accepted.lot_seq,
        "recorded_at": entry.recorded_at,
        "receipt": entry.receipt,
        "created": accepted.created,
    }


def transformed(done: Transformed) -> dict[str, Any]:
    """The answer to a transformation (``TransformedOut``)."""
    entry = done.entry
    return TransformedOut(
        hash=entry.hash,
        seq=entry.seq,
        action=done.transformation.action,
        recorded_at=entry.recorded_at,
        receipt=entry.receipt,
        created=done.created,
        inputs=[
            TakenOut(
                lot=state.lot,
                taken_fine_g=None if taken is None else plain(taken),
                remaining_fine_g=None if state.fine_gold_g is None else plain(state.fine_gold_g),
                closed=state.closed,
            )
            for state, taken in zip(done.inputs, done.taken, strict=False)
        ],
        outputs=[LotOut.of(state) for state in done.outputs],
        balance=None if done.balance is None else done.balance.numbers(),
    ).model_dump()
