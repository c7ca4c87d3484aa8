"""Posting a signed custody event: validate → verify → rule check → append.

The signature is checked before the sequencer lock is taken; inside the lock
the key's revocation, the lot's head and the domain rules are checked again
against the committed state, so two racing posts can never fork a chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from app.db import single_read, write_transaction
from app.domain.rules import LotState, RuleViolation, apply_event
from app.ledger.errors import FieldError
from app.ledger.events import Event
from app.ledger.keys import PublicKey, b64decode_strict
from app.ledger.records import LedgerEntry
from app.models import repository
from app.models.repository import KeyRow, PartnerRow
from app.services import writer
from app.services.clock import utc_now
from app.services.context import LedgerContext
from app.services.errors import Forbidden, NotFound, ServiceError, StaleHead

__all__ = ["Accepted", "submit_event", "usable_key", "verify_signature"]


@dataclass(frozen=True, slots=True)
class Accepted:
    entry: LedgerEntry
    lot: str
    lot_seq: int
    created: bool


def _parse_envelope(envelope: object) -> tuple[Event, bytes]:
    if not isinstance(envelope, dict):
        raise FieldError("body", "must be a JSON object with members event and signature")
    unknown = sorted(set(envelope) - {"event", "signature"})
    if unknown:
        raise FieldError(unknown[0], "unknown member")
    event = Event.from_json(envelope.get("event"), path="event")
    signature = envelope.get("signature")
    if not isinstance(signature, str):
        raise FieldError("signature", "must be a base64 string")
    return event, b64decode_strict(signature, field="signature", size=64)


def usable_key(key: KeyRow | None, partner: str, key_id: str, *, field: str) -> KeyRow:
    """The registered, unrevoked key ``key_id`` of ``partner``, or raise naming ``field``."""
    if key is None:
        raise FieldError(field, f"no registered key {key_id}")
    if key.partner_id != partner:
        raise Forbidden("key.not_owner", f"key {key_id} is not {partner}'s key", field=field)
    if key.revoked_seq is not None:
        raise Forbidden(
            "key.revoked",
            f"key {key_id} was revoked at {key.revoked_at} (ledger seq {key.revoked_seq}); "
            "entries signed with it are no longer accepted",
            field=field,
        )
    return key


def _accepted_before(conn: Connection, event: Event) -> Accepted | None:
    entry = repository.entry_by_hash(conn, event.hash)
    if entry is None:
        return None
    lot_seq = repository.lot_seq_of(conn, entry.seq)
    return Accepted(
        entry=entry, lot=event.lot, lot_seq=-1 if lot_seq is None else lot_seq, created=False
    )


def _check_head(state: LotState | None, event: Event) -> None:
    head = None if state is None else state.head
    if event.prev != head:
        raise StaleHead(
            lot=event.lot, prev=event.prev, head=head, length=0 if state is None else state.length
        )


def submit_event(
    ctx: LedgerContext, *, partner: PartnerRow, lot_id: str, envelope: Any
) -> Accepted:
    """Append a signed event for ``partner``; a repeat of an accepted event returns it again.

    Raises FieldError, InvalidSignature, RuleViolation or a ServiceError, and
    then nothing is written.
    """
    event, signature = _parse_envelope(envelope)
    if event.lot != lot_id:
        raise FieldError("event.lot", f"the event names lot {event.lot}, the URL lot {lot_id}")
    if event.partner != partner.id:
        raise Forbidden(
            "partner.impersonation",
            f"you are authenticated as {partner.id}; you cannot post an event of {event.partner}",
            field="event.partner",
        )
    try:
        verify_signature(
            ctx, event.partner, event.key, event.canonical, signature, field="event.key"
        )
        return _append(ctx, partner, event, signature)
    except (RuleViolation, ServiceError, IntegrityError):
        # A repeat of an accepted event is answered as it was, even though the
        # chain has moved on, the lot closed or the key was revoked since.
        with single_read(ctx.engine) as conn:
            repeat = _accepted_before(conn, event)
        if repeat is not None:
            return repeat
        raise


@lru_cache(maxsize=4096)
def _public_key(b64: str) -> PublicKey:
    return PublicKey.from_b64(b64)


def verify_signature(
    ctx: LedgerContext, partner: str, key_id: str, signed: bytes, signature: bytes, *, field: str
) -> None:
    """Verify ``signature`` over ``signed`` with ``partner``'s key ``key_id``, or raise.

    Checked before the sequencer lock is taken, so that workers verify in
    parallel; the key's validity is checked again under the lock.
    """
    with single_read(ctx.engine) as conn:
        key = usable_key(repository.key_by_id(conn, key_id), partner, key_id, field=field)
    _public_key(key.public_key).verify(
        signed, signature, what=f"signed by {partner} with key {key_id}"
    )


def _append(ctx: LedgerContext, partner: PartnerRow, event: Event, signature: bytes) -> Accepted:
    settings = ctx.settings
    with write_transaction(ctx.engine) as conn:
        usable_key(
            repository.key_by_id(conn, event.key), event.partner, event.key, field="event.key"
        )
        state = repository.lot_state(conn, event.lot)
        _check_head(state, event)
        now = utc_now()
        next_state = apply_event(
            state,
            event,
            roles=partner.roles,
            partner_exists=lambda pid: repository.partner_by_id(conn, pid) is not None,
            now=now,
            clock_skew=timedelta(seconds=settings.clock_skew_seconds),
            assay_tolerance=settings.assay_tolerance,
        )
        lot_seq = next_state.length - 1
        entry = writer.append_signed(
            conn,
            kind="event",
            signed=event,
            signature=signature,
            links=[writer.ChainLink(event.lot, lot_seq, event.prev)],
            states=[next_state],
            service_key=ctx.service_key,
            now=now,
        )
    return Accepted(entry=entry, lot=event.lot, lot_seq=lot_seq, created=True)


def require_lot(conn: Connection, lot_id: str) -> LotState:
    state = repository.lot_state(conn, lot_id)
    if state is None:
        raise NotFound("lot.unknown", f"no lot {lot_id}", field="lot_id")
    return state
