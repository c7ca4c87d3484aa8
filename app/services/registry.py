"""Partners, their Ed25519 keys and API keys.

Registrations and revocations are ledger entries signed by the service, so an
offline verifier knows which key was valid at each position of the ledger.
API keys are random, shown once, and stored only as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection

from app.db import write_transaction
from app.domain.vocabulary import ROLES
from app.ledger.errors import FieldError
from app.ledger.events import PARTNER_ID
from app.ledger.keys import PublicKey
from app.ledger.records import LedgerEntry, key_record, partner_record, revocation_record
from app.models import repository
from app.models.repository import KeyRow, PartnerRow
from app.services import log
from app.services.clock import utc_now
from app.services.context import LedgerContext
from app.services.errors import Conflict, NotFound
from app.services.service_keys import in_force
from app.services.writer import Appender

__all__ = [
    "NewPartner",
    "add_key",
    "hash_api_key",
    "new_api_key",
    "register_partner",
    "revoke_key",
    "rotate_api_key",
]

API_KEY_PREFIX = "gt_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewPartner:
    partner: PartnerRow
    api_key: str
    keys: list[KeyRow]


def _appender(ctx: LedgerContext, conn: Connection) -> Appender:
    return Appender(conn, service_key=in_force(conn, ctx), now=utc_now())


def _written(ctx: LedgerContext, appender: Appender) -> None:
    appender.flush()
    log.checkpoint_if_due(
        appender.conn, ctx, size=appender.size, root=appender.checkpoint_root, now=appender.now
    )


def _register_key(
    conn: Connection, appender: Appender, *, partner_id: str, public_key: PublicKey, field: str
) -> tuple[LedgerEntry, KeyRow]:
    existing = repository.key_by_id(conn, public_key.key_id)
    if existing is not None:
        raise Conflict("key.exists", f"key {public_key.key_id} is already registered", field=field)
    body = key_record(partner=partner_id, public_key=public_key, registered_at=appender.recorded_at)
    entry = appender.append_service_record(kind="key", body=body)
    return entry, KeyRow(public_key.key_id, partner_id, public_key.b64, entry.seq, None, None)


def register_partner(
    ctx: LedgerContext,
    *,
    partner_id: str,
    name: str,
    roles: list[str],
    country: str | None,
    public_keys: list[str],
) -> NewPartner:
    """Register a partner with its public keys; returns its API key (shown once)."""
    if not PARTNER_ID.fullmatch(partner_id):
        raise FieldError("id", f"must match {PARTNER_ID.pattern}")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise FieldError("roles", f"unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
    parsed = [
        PublicKey.from_b64(key, field=f"public_keys[{i}]") for i, key in enumerate(public_keys)
    ]
    if len({key.raw for key in parsed}) != len(parsed):
        raise FieldError("public_keys", "the same key is listed twice")
    api_key = new_api_key()
    with write_transaction(ctx.engine) as conn:
        if repository.partner_by_id(conn, partner_id) is not None:
            raise Conflict(
                "partner.exists", f"partner {partner_id} is already registered", field="id"
            )
        appender = _appender(ctx, conn)
        body = partner_record(
            partner=partner_id,
            name=name,
            roles=roles,
            country=country,
            registered_at=appender.recorded_at,
        )
        entry = appender.append_service_record(kind="partner", body=body)
        registered = [
            _register_key(
                conn, appender, partner_id=partner_id, public_key=key, field=f"public_keys[{i}]"
            )
            for i, key in enumerate(parsed)
        ]
        _written(ctx, appender)
        repository.insert_partner(
            conn,
            partner_id=partner_id,
            name=name,
            roles=roles,
            country=country,
            api_key_hash=hash_api_key(api_key),
            seq=entry.seq,
        )
        for key_entry, key in registered:
            repository.insert_partner_key(
                conn,
                key_id=key.key_id,
                partner_id=partner_id,
                public_key=key.public_key,
                seq=key_entry.seq,
            )
        partner = PartnerRow(partner_id, name, frozenset(roles), country, entry.seq)
    return NewPartner(partner=partner, api_key=api_key, keys=[key for _, key in registered])


def add_key(ctx: LedgerContext, *, partner_id: str, public_key: str) -> KeyRow:
    key = PublicKey.from_b64(public_key)
    with write_transaction(ctx.engine) as conn:
        if repository.partner_by_id(conn, partner_id) is None:
            raise NotFound("partner.unknown", f"no partner {partner_id}", field="partner")
        appender = _appender(ctx, conn)
        entry, row = _register_key(
            conn, appender, partner_id=partner_id, public_key=key, field="public_key"
        )
        _written(ctx, appender)
        repository.insert_partner_key(
            conn, key_id=row.key_id, partner_id=partner_id, public_key=row.public_key, seq=entry.seq
        )
        return row


def revoke_key(ctx: LedgerContext, *, partner_id: str, key_id: str, reason: str) -> KeyRow:
    """Revoke one of ``partner_id``'s keys; events appended before stay valid."""
    with write_transaction(ctx.engine) as conn:
        key = repository.key_by_id(conn, key_id)
        if key is None or key.partner_id != partner_id:
            raise NotFound(
                "key.unknown", f"partner {partner_id} has no key {key_id}", field="key_id"
            )
        if key.revoked_seq is not None:
            raise Conflict(
                "key.revoked",
                f"key {key_id} was already revoked at {key.revoked_at}",
                field="key_id",
            )
        appender = _appender(ctx, conn)
        body = revocation_record(
            partner=partner_id, key=key_id, revoked_at=appender.recorded_at, reason=reason
        )
        entry = appender.append_service_record(kind="key_revocation", body=body)
        _written(ctx, appender)
        repository.record_key_revoked(conn, key_id, seq=entry.seq, revoked_at=entry.recorded_at)
        return KeyRow(
            key_id, partner_id, key.public_key, key.registered_seq, entry.seq, entry.recorded_at
        )


def rotate_api_key(ctx: LedgerContext, *, partner_id: str) -> str:
    api_key = new_api_key()
    with write_transaction(ctx.engine) as conn:
        if repository.partner_by_id(conn, partner_id) is None:
            raise NotFound("partner.unknown", f"no partner {partner_id}", field="partner")
        repository.replace_api_key_hash(conn, partner_id, hash_api_key(api_key))
    return api_key
