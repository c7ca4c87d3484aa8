"""A lot's history as a GS1 EPCIS 2.0 document (``app.domain.epcis``, docs/EPCIS.md)."""

from __future__ import annotations

from typing import Any, Literal

from app.db import read_transaction
from app.domain.epcis import epcis_document
from app.models import repository
from app.services.clock import format_time, utc_now
from app.services.context import LedgerContext
from app.services.errors import NotFound

__all__ = ["Scope", "lot_history"]

Scope = Literal["chain", "ancestry"]


def lot_history(ctx: LedgerContext, lot_id: str, *, scope: Scope) -> dict[str, Any]:
    """The lot's chain (``chain``), or every entry of its ancestry (``ancestry``), in EPCIS."""
    with read_transaction(ctx.engine) as conn:
        if scope == "chain":
            entries = [entry for _, entry in repository.events_of_lot(conn, lot_id)]
        else:
            entries = repository.ancestry(conn, lot_id)[1]
    if not entries:
        raise NotFound("lot.unknown", f"no lot {lot_id}", field="lot_id")
    return epcis_document(
        entries,
        base_url=ctx.settings.public_base_url,
        created=format_time(utc_now()),
        lot=lot_id,
    )
