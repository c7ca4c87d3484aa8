"""The service key in force, and its rotation (PROTOCOL.md §19).

A rotation (``app.services.rotation``) appends a ``service_key`` entry announcing
the next key; from the next position on, receipts, registry records, summaries,
checkpoints and documents are signed with the new key.

Every process that writes or signs asks ``in_force`` first. A process that finds
the log rotated by another one (another worker, or ``goldtrail admin
rotate-service-key``) switches to the new key, read from the service key file (or
the ``.next`` file the command stages it in), and refuses to sign with the old one
if neither holds it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection

from app.db import read_transaction
from app.keystore import staged_path
from app.ledger.errors import LedgerError
from app.ledger.keys import SigningKey
from app.ledger.log.service_keys import ServiceKeyHistory
from app.ledger.records import LedgerEntry
from app.models import repository
from app.services.context import LedgerContext
from app.services.errors import ServiceError

__all__ = ["KeyNotLoaded", "in_force", "keys_in_force", "published", "refresh"]

logger = logging.getLogger("goldtrail.keys")


class KeyNotLoaded(ServiceError):
    """The log was rotated to a key this process cannot read: it must not sign with the old."""

    status = 503


def _load(path: Path) -> SigningKey | None:
    try:
        return SigningKey.load(path)
    except (OSError, ValueError, LedgerError):
        return None


def in_force(conn: Connection, ctx: LedgerContext) -> SigningKey:
    """The key that signs from now on: this process's, or the one another process rotated to."""
    return _switch(ctx, repository.service_key_entries(conn))


def keys_in_force(conn: Connection, ctx: LedgerContext) -> tuple[SigningKey, ServiceKeyHistory]:
    """The key in force (as ``in_force``) and the history the log states, from one read;
    LedgerError if the announcements do not chain."""
    announcements = repository.service_key_entries(conn)
    key = _switch(ctx, announcements)
    return key, ServiceKeyHistory.from_announcements(announcements, current=key.public)


def _switch(ctx: LedgerContext, announcements: list[LedgerEntry]) -> SigningKey:
    """Switch this process to the key the latest announcement names, if it is not already."""
    if not announcements:
        return ctx.service_key
    wanted = str(announcements[-1].body.get("key"))
    if ctx.service_key.public.key_id == wanted:
        return ctx.service_key
    key_path = ctx.settings.service_key_path
    for path in (key_path, staged_path(key_path)):
        key = _load(path)
        if key is not None and key.public.key_id == wanted:
            logger.warning(
                "the log's service key was rotated to %s at seq %d: signing with it from now on",
                wanted,
                announcements[-1].seq,
                extra={"event": "service_key", "key": wanted, "seq": announcements[-1].seq},
            )
            ctx.service_key = key
            return key
    raise KeyNotLoaded(
        "service.key_not_loaded",
        f"the log's service key is {wanted} since seq {announcements[-1].seq + 1}, but "
        f"{key_path} holds {ctx.service_key.public.key_id}: install the new key and restart",
        extra={"retry_after": 5},
    )


def published(ctx: LedgerContext) -> ServiceKeyHistory:
    """The history the log states now (for ``GET /v1/log/keys`` and the did:web document),
    this process switched to the key in force."""
    with read_transaction(ctx.engine) as conn:
        return keys_in_force(conn, ctx)[1]


def refresh(ctx: LedgerContext) -> SigningKey:
    """Switch this process to the key in force, if the log was rotated since it last looked."""
    with read_transaction(ctx.engine) as conn:
        return in_force(conn, ctx)
