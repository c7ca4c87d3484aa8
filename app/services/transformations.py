"""Posting a signed transformation: validate → verify → rule check → append.

Like ``app.services.events``: the signature is checked before the sequencer
lock; inside it, the key, every input lot's head, custody and remaining gold,
and the balance are checked against the committed state. Two transformations
racing to spend the same lot both name its head; the second finds the head
moved (or the lot closed) and is refused, whichever worker or database serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from app.db import single_read, write_transaction
from app.domain.rules import LotState, RuleViolation
from app.domain.transform import apply_transformation
from app.ledger.balance import Balance
from app.ledger.errors import FieldError
from app.ledger.keys import b64decode_strict
from app.ledger.records import LedgerEntry
from app.ledger.transformations import Transformation
from app.models import repository
from app.models.repository import PartnerRow
from app.services import writer
from app.services.clock import utc_now
from app.services.context import LedgerContext
from app.services.errors import Forbidden, ServiceError
from app.services.events import usable_key, verify_signature

__all__ = ["Transformed", "record", "submit_transformation"]


@dataclass(frozen=True, slots=True)
class Transformed:
    entry: LedgerEntry
    transformation: Transformation
    inputs: tuple[LotState, ...]
    outputs: tuple[LotState, ...]
    taken: tuple[Decimal | None, ...]
    balance: Balance | None
    created: bool


def _parse_envelope(envelope: object) -> tuple[Transformation, bytes]:
    if not isinstance(envelope, dict):
        raise FieldError("body", "must be a JSON object with members transformation and signature")
    unknown = sorted(set(envelope) - {"transformation", "signature"})
    if unknown:
        raise FieldError(unknown[0], "unknown member")
    t = Transformation.from_json(envelope.get("transformation"), path="transformation")
    signature = envelope.get("signature")
    if not isinstance(signature, str):
        raise FieldError("signature", "must be a base64 string")
    return t, b64decode_strict(signature, field="signature", size=64)


def submit_transformation(ctx: LedgerContext, *, partner: PartnerRow, envelope: Any) -> Transformed:
    """Append a signed transformation for ``partner``; a repeat returns the accepted one.

    Raises FieldError, InvalidSignature, RuleViolation or a ServiceError, and
    then nothing is written.
    """
    t, signature = _parse_envelope(envelope)
    if t.partner != partner.id:
        raise Forbidden(
            "partner.impersonation",
            f"you are authenticated as {partner.id}; you cannot post a transformation of "
            f"{t.partner}",
            field="transformation.partner",
        )
    try:
        verify_signature(ctx, t.partner, t.key, t.canonical, signature, field="transformation.key")
        return _append(ctx, partner, t, signature)
    except (RuleViolation, ServiceError, IntegrityError):
        with single_read(ctx.engine) as conn:
            repeat = _accepted_before(conn, t)
        if repeat is not None:
            return repeat
        raise


def _accepted_before(conn: Connection, t: Transformation) -> Transformed | None:
    entry = repository.entry_by_hash(conn, t.hash)
    if entry is None:
        return None
    states = {lot: repository.lot_state(conn, lot) for lot in t.lots}
    return Transformed(
        entry=entry,
        transformation=t,
        inputs=tuple(s for i in t.inputs if (s := states[i.lot]) is not None),
        outputs=tuple(s for o in t.outputs if (s := states[o.lot]) is not None),
        taken=tuple(i.fine_g for i in t.inputs),
        balance=None,
        created=False,
    )


def _append(
    ctx: LedgerContext, partner: PartnerRow, t: Transformation, signature: bytes
) -> Transformed:
    with write_transaction(ctx.engine) as conn:
        return record(conn, ctx, partner, t, signature)


def record(
    conn: Connection,
    ctx: LedgerContext,
    partner: PartnerRow,
    t: Transformation,
    signature: bytes,
) -> Transformed:
    """Check ``t`` against the committed state and append it, in the caller's write transaction.

    The signature must already be verified; the key's validity is checked here.
    """
    settings = ctx.settings
    usable_key(repository.key_by_id(conn, t.key), t.partner, t.key, field="transformation.key")
    before = [repository.lot_state(conn, i.lot) for i in t.inputs]
    now = utc_now()
    outcome = apply_transformation(
        t,
        before,
        roles=partner.roles,
        output_exists=lambda lot: repository.lot_state(conn, lot) is not None,
        now=now,
        clock_skew=timedelta(seconds=settings.clock_skew_seconds),
        assay_tolerance=settings.assay_tolerance,
    )
    links = [
        writer.ChainLink(i.lot, state.length - 1, i.prev, "input")
        for i, state in zip(t.inputs, outcome.inputs, strict=True)
    ] + [writer.ChainLink(state.lot, 0, None, "output") for state in outcome.outputs]
    entry = writer.append_signed(
        conn,
        kind="transformation",
        signed=t,
        signature=signature,
        links=links,
        states=[*outcome.inputs, *outcome.outputs],
        service_key=ctx.service_key,
        now=now,
    )
    return Transformed(
        entry=entry,
        transformation=t,
        inputs=outcome.inputs,
        outputs=outcome.outputs,
        taken=outcome.taken,
        balance=outcome.balance,
        created=True,
    )
