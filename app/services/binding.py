"""Binding a passport to the physical piece (PROTOCOL.md §21): NFC tags and their taps, one-time
claim codes, and bars as the bullion trade identifies them.

Binding, unbinding, setting a claim code and identifying a bar are events a partner signs on
the lot's chain; a claim is a record the service signs. What they bound is kept in the
``bindings`` projection by the writer. A tag's keys are diversified from the master key in
the service's key store; a tap is accepted only with a read counter higher than any accepted
before for that tag (one conditional update: two taps racing with one counter are one
genuine tap and one replay).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from app.db import read_transaction, short_write, write_transaction
from app.domain.binding import BINDING_ACTIONS, bar_key, binding_of
from app.domain.rules import RuleViolation
from app.ledger.binding.claims import claim_commitment, claim_record
from app.ledger.binding.sun import (
    InvalidSun,
    SunMessage,
    TagKeys,
    tag_keys,
    uid_digest,
    verify_sun,
)
from app.ledger.errors import FieldError
from app.ledger.events import Event
from app.models import repository
from app.models.repository import PartnerRow, TagRow, TapRow
from app.services import log
from app.services.clock import format_time, utc_now
from app.services.context import LedgerContext
from app.services.errors import Conflict, Forbidden, NotFound, ServiceError
from app.services.service_keys import in_force
from app.services.writer import Appender

__all__ = [
    "BindingStatus",
    "Claimed",
    "TagRegistration",
    "TapResult",
    "bar_record",
    "binding_status",
    "check_bound",
    "claim",
    "claim_status",
    "piece_status",
    "public_claim_status",
    "register_tag",
    "tap",
    "tap_history",
]

TAG_ROLES = frozenset({"smelter", "refiner", "trader", "vault", "jeweler"})
CLAIMS_PER_HOUR = 10
"""Wrong or repeated claims of one lot an hour, before it answers 429: with a code of about
98 bits, guessing stays hopeless however long it runs."""


class TagsNotConfigured(ServiceError):
    status = 503


class TooManyClaims(ServiceError):
    status = 429


@lru_cache(maxsize=4)
def _read_master(path: Path, _mtime: float) -> bytes:
    data = path.read_bytes()
    if len(data) != 16:
        raise TagsNotConfigured("tags.not_configured", f"{path} does not hold a 16-byte key")
    return data


def master_key(ctx: LedgerContext) -> bytes:
    """The tags' master key, from the service's key store (it never leaves it)."""
    path = ctx.settings.tag_master_key_path
    if not path.exists():
        raise TagsNotConfigured(
            "tags.not_configured", "this service has no NFC tag master key (OPERATIONS.md)"
        )
    return _read_master(path, path.stat().st_mtime)


# Tags ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagRegistration:
    tag: TagRow
    keys: TagKeys
    url: str
    """The tag's URL with the SUN placeholders its NDEF record is written with."""


def tag_url(ctx: LedgerContext, tag_id: str) -> str:
    return f"{ctx.settings.public_base_url.rstrip('/')}/t/{tag_id}"


def register_tag(ctx: LedgerContext, partner: PartnerRow, uid_hex: str) -> TagRegistration:
    """Register an NTAG 424 DNA by its UID; returns its id and the keys to provision it with."""
    if not partner.roles & TAG_ROLES:
        raise Forbidden(
            "tag.role",
            f"tags are registered by a {', '.join(sorted(TAG_ROLES))}",
            field="authorization",
        )
    try:
        uid = bytes.fromhex(uid_hex)
    except ValueError:
        uid = b""
    if len(uid) != 7:
        raise FieldError("uid", "must be the tag's 7-byte UID in hex, e.g. 04DE5F1EACC040")
    master = master_key(ctx)
    digest = uid_digest(master, uid)
    with write_transaction(ctx.engine) as conn:
        if repository.tag_by_uid_digest(conn, digest) is not None:
            raise Conflict("tag.exists", "a tag with this UID is already registered", field="uid")
        tag = TagRow(
            id=secrets.token_hex(8),
            uid_digest=digest,
            registered_by=partner.id,
            registered_at=format_time(utc_now()),
            last_counter=-1,
        )
        repository.insert_tag(conn, tag)
    url = tag_url(ctx, tag.id) + "?picc_data=" + "0" * 32 + "&cmac=" + "0" * 16
    return TagRegistration(tag, tag_keys(master, tag.id), url)


# Bindings --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BindingStatus:
    """Where a tag (or a bar's identity) stands: ``bound`` to a lot since ``since_seq``;
    ``closed`` because a transformation at ``closed_seq`` took gold from that lot (split,
    melted, made into something else); or ``none``."""

    state: str
    lot: str | None = None
    since_seq: int | None = None
    since: str | None = None
    closed_seq: int | None = None
    consumed_by: str | None = None


def binding_status(conn: Connection, kind: str, key: str) -> BindingStatus:
    row = repository.standing_binding(conn, kind, key)
    if row is None:
        return BindingStatus("none")
    if row.taken_seq is not None:
        return BindingStatus(
            "closed", row.lot_id, row.seq, row.recorded_at, row.taken_seq, row.consumed_by
        )
    return BindingStatus("bound", row.lot_id, row.seq, row.recorded_at)


def check_bound(conn: Connection, pending: dict[tuple[str, str], str | None], event: Event) -> None:
    """What the bindings already hold that refuses ``event`` (under the sequencer lock).

    ``pending`` holds what earlier entries of the same batch bound: (kind, key) → lot or None.
    """
    if event.action not in BINDING_ACTIONS:
        return
    binding = binding_of(event.action, event.to_json())
    assert binding is not None
    kind, key = binding.kind, binding.key
    if (kind, key) in pending:
        current = pending[(kind, key)]
    else:
        status = binding_status(conn, kind, key) if kind in ("tag", "bar") else None
        current = status.lot if status is not None and status.state == "bound" else None
    if kind == "tag":
        _check_tag(conn, event, key, current)
    elif kind == "bar" and current not in (None, event.lot):
        bar = event.data["bar"]
        raise RuleViolation(
            "bar.serial_in_use",
            f"bar {bar['brand']} {bar['serial']} is lot {current}, which still holds it",
            field="event.data.bar.serial",
            status=409,
        )
    pending[(kind, key)] = binding.lot


def _check_tag(conn: Connection, event: Event, tag_id: str, current: str | None) -> None:
    tag = repository.tag_by_id(conn, tag_id)
    if tag is None:
        raise RuleViolation(
            "tag.unknown", f"no tag {tag_id} is registered", field="event.data.tag", status=404
        )
    if event.action == "tag_bound":
        if event.data["tag_uid_digest"] != tag.uid_digest:
            raise RuleViolation(
                "tag.uid_differs",
                f"tag {tag_id} was registered with another UID",
                field="event.data.tag_uid_digest",
            )
        if current is not None:
            where = "this lot" if current == event.lot else f"lot {current}"
            raise RuleViolation(
                "tag.bound", f"tag {tag_id} is bound to {where}", field="event.data.tag", status=409
            )
    elif current != event.lot:
        raise RuleViolation(
            "tag.not_bound_here",
            f"tag {tag_id} is not bound to lot {event.lot}",
            field="event.data.tag",
            status=409,
        )


# Taps ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TapResult:
    """What a tap is: ``genuine`` (a counter higher than any before), ``replay`` (a counter
    seen before: a copied URL), ``invalid`` (not written by this tag) or ``unknown`` (no
    such tag)."""

    tag: str
    outcome: str
    reason: str
    counter: int | None = None
    first_seen: str | None = None
    """For a replay: when that counter was first accepted (if it ever was)."""
    last_genuine: str | None = None
    binding: BindingStatus = field(default_factory=lambda: BindingStatus("none"))

    def to_json(self) -> dict[str, Any]:
        b = self.binding
        return {
            "tag": self.tag,
            "outcome": self.outcome,
            "reason": self.reason,
            "counter": self.counter,
            "first_seen": self.first_seen,
            "binding": {
                "state": b.state,
                "lot": b.lot,
                "since": b.since,
                "since_seq": b.since_seq,
                "closed_seq": b.closed_seq,
                "consumed_by": b.consumed_by,
            },
        }


def _hex(text: str | None, size: int) -> bytes:
    try:
        data = bytes.fromhex(text or "")
    except ValueError:
        return b""
    return data if len(data) == size else b""


@lru_cache(maxsize=4096)
def _keys_of(master: bytes, tag_id: str) -> TagKeys:
    return tag_keys(master, tag_id)


def tap(ctx: LedgerContext, tag_id: str, picc_data: str | None, cmac: str | None) -> TapResult:
    """Verify a tap URL's SUN message and accept its counter if it is new.

    The message is checked first (the tag's keys follow from its id); then one transaction
    raises the counter of the tag registered with that UID, records the tap and reads the
    binding — three statements for a genuine tap, one more to tell the others apart.
    """
    master = master_key(ctx)
    now = format_time(utc_now())
    message: SunMessage | None = None
    digest, invalid = "", ""
    try:
        message = verify_sun(_keys_of(master, tag_id), _hex(picc_data, 16), _hex(cmac, 8))
        digest = uid_digest(master, message.uid)
    except InvalidSun as exc:
        invalid = str(exc)
    with short_write(ctx.engine) as conn:
        if message is not None and repository.accept_counter(conn, tag_id, digest, message.counter):
            repository.add_tap(conn, tag_id, counter=message.counter, at=now, outcome="genuine")
            status = binding_status(conn, "tag", tag_id)
            return TapResult(tag_id, "genuine", "a new tap", message.counter, binding=status)
        tag = repository.tag_by_id(conn, tag_id)
        if tag is None:
            return TapResult(tag_id, "unknown", "no tag with this id is registered")
        if message is None or tag.uid_digest != digest:
            reason = invalid or "the tag's UID is not the one registered"
            repository.add_tap(conn, tag_id, counter=None, at=now, outcome="invalid")
            return TapResult(tag_id, "invalid", reason, binding=binding_status(conn, "tag", tag_id))
        repository.add_tap(conn, tag_id, counter=message.counter, at=now, outcome="replay")
        first = repository.first_tap_with_counter(conn, tag_id, message.counter)
        status = binding_status(conn, "tag", tag_id)
    reason = "this link was already used: the tag has been tapped since, or the link was copied"
    return TapResult(
        tag_id,
        "replay",
        reason,
        message.counter,
        first_seen=None if first is None else first.at,
        binding=status,
    )


def tap_history(
    ctx: LedgerContext, caller: PartnerRow | None, tag_id: str, *, after: int, limit: int
) -> dict[str, Any]:
    """A tag's taps (counter, time, outcome): for the partner that registered it, the holder
    of the lot it is bound to, auditors and the admin (``caller`` None)."""
    with read_transaction(ctx.engine) as conn:
        tag = repository.tag_by_id(conn, tag_id)
        if tag is None:
            raise NotFound("tag.unknown", f"no tag {tag_id}", field="tag")
        status = binding_status(conn, "tag", tag_id)
        holder = None
        if status.lot is not None:
            lot = repository.lot_state(conn, status.lot)
            holder = None if lot is None else lot.custodian
        entitled = caller is None or "auditor" in caller.roles
        if not entitled and caller is not None and caller.id not in (tag.registered_by, holder):
            raise Forbidden(
                "tag.not_yours",
                "a tag's taps are for the partner that registered it and the holder",
                field="authorization",
            )
        taps: list[TapRow] = repository.taps_of(conn, tag_id, after=after, limit=limit)
    return {
        "tag": tag_id,
        "registered_by": tag.registered_by,
        "registered_at": tag.registered_at,
        "last_counter": None if tag.last_counter < 0 else tag.last_counter,
        "taps": [
            {"id": t.id, "counter": t.counter, "at": t.at, "outcome": t.outcome} for t in taps
        ],
        "next_after": taps[-1].id if taps else after,
    }


# Claim codes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    lot: str
    claimed_at: str
    seq: int


def claim_status(conn: Connection, lot_id: str) -> dict[str, Any]:
    """Whether the lot carries a claim code, whether it was claimed and when, and how many
    claims of it were refused."""
    code = repository.latest_binding_of_lot(conn, "claim_code", lot_id)
    claimed = repository.latest_binding_of_lot(conn, "claim", lot_id)
    claimed_at = None
    if claimed is not None and code is not None and claimed.key == code.key:
        entry = repository.entry_by_seq(conn, claimed.seq)
        claimed_at = None if entry is None else entry.body.get("claimed_at")
    refused = [a for a in repository.claim_attempts_since(conn, lot_id, "") if a[1] != "claimed"]
    return {
        "claim_code_set": code is not None,
        "claimed": claimed_at is not None,
        "claimed_at": claimed_at,
        "refused_claims": len(refused),
    }


def public_claim_status(ctx: LedgerContext, lot_id: str) -> dict[str, Any]:
    with read_transaction(ctx.engine) as conn:
        if repository.lot_state(conn, lot_id) is None:
            raise NotFound("lot.unknown", f"no lot {lot_id}", field="lot_id")
        return {"lot": lot_id, **claim_status(conn, lot_id)}


def claim(ctx: LedgerContext, lot_id: str, code: str) -> Claimed:
    """Claim the piece with its one-time code: the first time, a claim record the service
    signs; a second time, or with another piece's code, refused (and counted)."""
    if not code.strip():
        raise FieldError("code", "must be the claim code printed with the piece")
    commitment = claim_commitment(lot_id, code)
    now = utc_now()
    refusal: ServiceError | None = None
    with write_transaction(ctx.engine) as conn:
        since = format_time(now - timedelta(hours=1))
        recent = repository.claim_attempts_since(conn, lot_id, since)
        if sum(1 for _, outcome in recent if outcome != "claimed") >= CLAIMS_PER_HOUR:
            raise TooManyClaims(
                "claim.too_many",
                f"more than {CLAIMS_PER_HOUR} refused claims of this piece in an hour; "
                "try again later",
                field="code",
                extra={"retry_after": 3600},
            )
        if repository.lot_state(conn, lot_id) is None:
            raise NotFound("lot.unknown", f"no lot {lot_id}", field="lot_id")
        current = repository.latest_binding_of_lot(conn, "claim_code", lot_id)
        outcome = "claimed"
        if current is None:
            outcome = "no_code"
            refusal = Conflict("claim.no_code", "no claim code was set for this piece")
        elif current.key != commitment:
            outcome = "wrong_code"
            refusal = Forbidden(
                "claim.wrong_code",
                "this code does not belong to this piece",
                field="code",
            )
        elif repository.active_bindings(conn, "claim", commitment):
            outcome = "repeat"
            status = claim_status(conn, lot_id)
            refusal = Conflict(
                "claim.already_claimed",
                f"this piece was already claimed on {status['claimed_at']}",
                field="code",
                extra={"claimed_at": status["claimed_at"]},
            )
        repository.record_claim_attempt(conn, lot_id, at=format_time(now), outcome=outcome)
        if refusal is None:
            appender = Appender(conn, service_key=in_force(conn, ctx), now=now)
            body = claim_record(lot=lot_id, commitment=commitment, claimed_at=appender.recorded_at)
            entry = appender.append_service_record(kind="claim", body=body)
            appender.flush()
            log.checkpoint_if_due(
                conn, ctx, size=appender.size, root=appender.checkpoint_root, now=appender.now
            )
    if refusal is not None:
        raise refusal  # the attempt is recorded (committed) before the refusal is answered
    return Claimed(lot_id, entry.body["claimed_at"], entry.seq)


# What the card shows ----------------------------------------------------------------------


def piece_status(ctx: LedgerContext, lot_id: str) -> dict[str, Any]:
    """What binds the lot to its piece, for its card: the bar's marks, its NFC tag, its claim."""
    with read_transaction(ctx.engine) as conn:
        bar_row = repository.latest_binding_of_lot(conn, "bar", lot_id)
        bar = None
        if bar_row is not None:
            entry = repository.entry_by_seq(conn, bar_row.seq)
            bar = None if entry is None else dict(entry.body["data"]["bar"])
        tag_row = repository.latest_binding_of_lot(conn, "tag", lot_id)
        tag = None
        if tag_row is not None:
            status = binding_status(conn, "tag", tag_row.key)
            if status.lot == lot_id and status.state == "bound":
                tag = {"id": tag_row.key, "since": status.since}
        claim = claim_status(conn, lot_id)
    return {"bar": bar, "tag": tag, "claim": claim}


# Bars ------------------------------------------------------------------------------------


def bar_record(ctx: LedgerContext, brand: str, serial: str) -> dict[str, Any]:
    """A bar looked up by brand and serial, the way a vault or a buyer checks one."""
    key = bar_key(brand, serial)
    with read_transaction(ctx.engine) as conn:
        status = binding_status(conn, "bar", key)
        if status.state == "none" or status.since_seq is None:
            raise NotFound(
                "bar.unknown", f"no bar {brand} {serial} is on the ledger", field="serial"
            )
        entry = repository.entry_by_seq(conn, status.since_seq)
        assert entry is not None
    bar = dict(entry.body["data"]["bar"])
    return {
        "bar": bar,
        "lot": status.lot,
        "state": "live" if status.state == "bound" else "melted or split",
        "identified_by": entry.body.get("partner"),
        "identified_at": entry.body.get("occurred_at"),
        "seq": entry.seq,
        "entry_hash": entry.hash,
        "closed_seq": status.closed_seq,
        "passport": f"{ctx.settings.public_base_url.rstrip('/')}/p/{status.lot}",
    }
