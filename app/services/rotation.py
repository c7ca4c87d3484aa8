"""Rotating the service key (PROTOCOL.md §19).

A rotation appends a ``service_key`` entry announcing the next key, signed and
receipted by the key in force, and signs the handover checkpoint (the first that
holds the announcement) with both keys, all in one write transaction under the
sequencer lock: a monitor that trusts only the old key verifies the state that
holds the announcement, and follows it to the new key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.db import write_transaction
from app.ledger.errors import LedgerError
from app.ledger.keys import SigningKey
from app.ledger.log.service_keys import service_key_record
from app.ledger.records import LedgerEntry
from app.models import repository
from app.models.repository import CheckpointRow
from app.services import log
from app.services.clock import utc_now
from app.services.context import LedgerContext
from app.services.errors import Conflict
from app.services.service_keys import keys_in_force
from app.services.writer import Appender

__all__ = ["Rotation", "rotate"]

logger = logging.getLogger("goldtrail.keys")


@dataclass(frozen=True, slots=True)
class Rotation:
    announcement: LedgerEntry
    handover: CheckpointRow


def rotate(ctx: LedgerContext, new: SigningKey) -> Rotation:
    """Announce ``new`` as the service key and sign the handover checkpoint with both keys."""
    before = ctx.service_key
    try:
        return _rotate(ctx, new)
    except BaseException:
        ctx.service_key = before  # nothing was committed: the old key stays in force
        raise


def _rotate(ctx: LedgerContext, new: SigningKey) -> Rotation:
    with write_transaction(ctx.engine) as conn:
        old, keys = keys_in_force(conn, ctx)
        if keys.holds(new.public):
            raise Conflict(
                "service.key_reused",
                f"key {new.public.key_id} was a service key already: rotate to a new key",
            )
        latest = repository.latest_checkpoint(conn)
        if latest is not None:
            try:
                keys.open_checkpoint(latest.note, ctx.settings.log_origin)
            except LedgerError as exc:
                raise Conflict(
                    "service.key_mismatch",
                    f"the latest checkpoint does not verify with {old.public.key_id}: {exc}; "
                    "the service key file is not this log's key",
                ) from exc
        appender = Appender(conn, service_key=old, now=utc_now())
        body = service_key_record(
            previous=old.public, new=new.public, announced_at=appender.recorded_at
        )
        entry = appender.append_service_record(kind="service_key", body=body)
        appender.flush()
        ctx.service_key = new
        handover = log.sign_checkpoint(
            conn,
            ctx,
            size=appender.size,
            root=appender.checkpoint_root(),
            now=appender.now,
            cosigners=(old,),
        )
    logger.warning(
        "rotated the service key from %s to %s at seq %d",
        old.public.key_id,
        new.public.key_id,
        entry.seq,
        extra={
            "event": "service_key_rotated",
            "seq": entry.seq,
            "previous_key": old.public.key_id,
            "key": new.public.key_id,
        },
    )
    return Rotation(entry, handover)
