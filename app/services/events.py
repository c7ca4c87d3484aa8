"""Posting a signed custody event: validate → verify → (sequencer) rule check → append.

What needs no order happens here, before the sequencer: the envelope is parsed,
the event's canonical bytes computed and its signature verified with the
partner's key. The key's revocation, the lot's head and the domain rules are
checked by ``app.services.ingest`` under the sequencer lock, against the state
the committed ledger and the batch's earlier entries leave, so two racing posts
can never fork a chain.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from app.db import single_read, write_transaction
from app.domain.rules import LotState
from app.ledger.errors import FieldError, LedgerError
from app.ledger.events import Event
from app.ledger.keys import PublicKey, b64decode_strict
from app.models import repository
from app.models.repository import PartnerRow
from app.services import ingest
from app.services.context import LedgerContext
from app.services.errors import Forbidden, NotFound
from app.services.ingest import Accepted, Outcome, Repeat, Submission, Unverified

__all__ = [
    "Accepted",
    "accepted_event",
    "check_event",
    "parse_envelope",
    "prepare_event",
    "require_lot",
    "signing_key",
    "submit_event",
]


def parse_envelope(envelope: object, *, limits_checked: bool = False) -> tuple[Event, bytes]:
    """The event and signature of ``{"event": …, "signature": …}``, or FieldError.

    ``limits_checked`` says the envelope came from ``parse_strict``.
    """
    if not isinstance(envelope, dict):
        raise FieldError("body", "must be a JSON object with members event and signature")
    unknown = sorted(set(envelope) - {"event", "signature"})
    if unknown:
        raise FieldError(unknown[0], "unknown member")
    event = Event.from_json(envelope.get("event"), path="event", limits_checked=limits_checked)
    signature = envelope.get("signature")
    if not isinstance(signature, str):
        raise FieldError("signature", "must be a base64 string")
    return event, b64decode_strict(signature, field="signature", size=64)


def _public_key(ctx: LedgerContext, key_id: str, *, field: str) -> tuple[str, PublicKey]:
    known = ctx.memory.public_keys.get(key_id)
    if known is not None:
        return known
    with single_read(ctx.engine) as conn:
        key = repository.key_by_id(conn, key_id)
    if key is None:
        raise FieldError(field, f"no registered key {key_id}")
    known = (key.partner_id, PublicKey.from_b64(key.public_key))
    ctx.memory.public_keys[key_id] = known
    return known


def signing_key(ctx: LedgerContext, partner: str, key_id: str, *, field: str) -> PublicKey:
    """The public key ``key_id`` of ``partner``, to verify what it signed; or raise.

    Checked before the sequencer, so that requests and workers verify in parallel;
    whether the key is revoked is read under the sequencer lock.
    """
    owner, public = _public_key(ctx, key_id, field=field)
    if owner != partner:
        raise Forbidden("key.not_owner", f"key {key_id} is not {partner}'s key", field=field)
    return public


def prepare_event(
    ctx: LedgerContext, *, partner: PartnerRow, lot_id: str | None, envelope: Any
) -> Submission:
    """Parse and verify an event envelope posted to ``lot_id`` (None: a batch) by ``partner``.

    ``envelope`` comes from ``parse_strict``, which checked the JSON limits.
    """
    return check_event(ctx, partner=partner, lot_id=lot_id, envelope=envelope).verify()


def check_event(
    ctx: LedgerContext, *, partner: PartnerRow, lot_id: str | None, envelope: Any
) -> Unverified:
    """``prepare_event`` but for the signature, which the caller verifies."""
    event, signature = parse_envelope(envelope, limits_checked=True)
    if lot_id is not None and event.lot != lot_id:
        raise FieldError("event.lot", f"the event names lot {event.lot}, the URL lot {lot_id}")
    if event.partner != partner.id:
        raise Forbidden(
            "partner.impersonation",
            f"you are authenticated as {partner.id}; you cannot post an event of {event.partner}",
            field="event.partner",
        )
    public = signing_key(ctx, event.partner, event.key, field="event.key")
    return Unverified(Submission.of(event, signature, partner), public)


def accepted_event(ctx: LedgerContext, outcome: Outcome) -> Accepted:
    """What the poster of an event hears: the entry, or the error that refused it."""
    if isinstance(outcome, LedgerError):
        raise outcome
    if isinstance(outcome, Repeat):
        with single_read(ctx.engine) as conn:
            lot_seq = repository.lot_seq_of(conn, outcome.entry.seq)
        return Accepted(
            entry=outcome.entry,
            lot=str(outcome.entry.body.get("lot")),
            lot_seq=-1 if lot_seq is None else lot_seq,
            created=False,
        )
    assert isinstance(outcome, Accepted)
    return outcome


def submit_event(
    ctx: LedgerContext, *, partner: PartnerRow, lot_id: str, envelope: Any
) -> Accepted:
    """Prepare and append one event in its own write transaction (outside the sequencer).

    A repeat of an accepted event answers as it was, even after the chain moved on.
    """
    submission = prepare_event(ctx, partner=partner, lot_id=lot_id, envelope=envelope)
    with write_transaction(ctx.engine) as conn:
        integrated = ingest.integrate(conn, ctx, [submission])
    (outcome,) = integrated.committed(ctx)
    return accepted_event(ctx, outcome)


def require_lot(conn: Connection, lot_id: str) -> LotState:
    state = repository.lot_state(conn, lot_id)
    if state is None:
        raise NotFound("lot.unknown", f"no lot {lot_id}", field="lot_id")
    return state
