"""Offline verification of a lot's exported chain (docs/PROTOCOL.md §6).

``verify_lot_export`` takes the JSON document that ``GET /v1/lots/{id}/export``
returns and checks, for every entry, the hash, the signature, the chain link,
the signing key's validity at that position and the service's receipt. It never
stops at the first failure: an auditor wants every broken entry named.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.ledger.canonical import canonical_bytes
from app.ledger.errors import FieldError, LedgerError
from app.ledger.events import Event
from app.ledger.hashing import sha256_hex
from app.ledger.keys import PublicKey
from app.ledger.records import (
    ENTRY_KINDS,
    KEY_TYPE,
    REVOCATION_TYPE,
    LedgerEntry,
    receipt_bytes,
)

__all__ = ["EXPORT_FORMAT", "Check", "KeyState", "Report", "verify_lot_export"]

EXPORT_FORMAT = "goldtrail.lot-export.v1"


@dataclass(frozen=True, slots=True)
class Check:
    """One verification step and its outcome, located as precisely as possible."""

    check: str
    ok: bool
    detail: str
    lot: str | None = None
    lot_seq: int | None = None
    seq: int | None = None
    hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "ok": self.ok,
            "detail": self.detail,
            "lot": self.lot,
            "lot_seq": self.lot_seq,
            "seq": self.seq,
            "hash": self.hash,
        }


@dataclass(slots=True)
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": len(self.checks),
            "failures": [check.to_json() for check in self.failures],
            "checks": [check.to_json() for check in self.checks],
        }


@dataclass(frozen=True, slots=True)
class KeyState:
    """What the registry says of one partner key."""

    partner: str
    public_key: PublicKey
    registered_seq: int
    revoked_seq: int | None

    def valid_at(self, seq: int) -> str | None:
        """None if the key may sign the entry at ``seq``, else the reason it may not."""
        if self.registered_seq >= seq:
            return f"key registered at seq {self.registered_seq}, after the entry"
        if self.revoked_seq is not None and self.revoked_seq < seq:
            return f"key revoked at seq {self.revoked_seq}, before the entry"
        return None


def _receipt_problem(entry: LedgerEntry, entry_hash: str, service_key: PublicKey) -> str | None:
    message = receipt_bytes(
        seq=entry.seq, kind=entry.kind, entry_hash=entry_hash, recorded_at=entry.recorded_at
    )
    try:
        service_key.verify(message, entry.receipt_signature(), what=f"receipt of seq {entry.seq}")
    except LedgerError as exc:
        return str(exc)
    return None


def _registry_keys(
    entries: Iterable[LedgerEntry], service_key: PublicKey, report: Report
) -> dict[str, KeyState]:
    registered: dict[str, tuple[str, PublicKey, int]] = {}
    revoked: dict[str, int] = {}
    for entry in entries:
        problems = []
        entry_hash = sha256_hex(canonical_bytes(entry.body))
        if entry_hash != entry.hash:
            problems.append("hash: body does not hash to the stored hash")
        if entry.body.get("type") != ENTRY_KINDS[entry.kind]:
            problems.append(f"type: body type does not match kind {entry.kind}")
        try:
            service_key.verify(
                canonical_bytes(entry.body), entry.signature_bytes(), what="registry record"
            )
        except LedgerError as exc:
            problems.append(f"signature: {exc}")
        receipt = _receipt_problem(entry, entry_hash, service_key)
        if receipt:
            problems.append(f"receipt: {receipt}")
        report.checks.append(
            Check(
                check=f"registry {entry.kind}",
                ok=not problems,
                detail="; ".join(problems) or f"{entry.kind} record signed by the service",
                seq=entry.seq,
                hash=entry.hash,
            )
        )
        if problems:
            continue
        body = entry.body
        if body["type"] == KEY_TYPE:
            registered[body["key"]] = (
                body["partner"],
                PublicKey.from_b64(body["public_key"]),
                entry.seq,
            )
        elif body["type"] == REVOCATION_TYPE:
            revoked[body["key"]] = min(entry.seq, revoked.get(body["key"], entry.seq))
    return {
        key_id: KeyState(partner, public, seq, revoked.get(key_id))
        for key_id, (partner, public, seq) in registered.items()
    }


def _event_problems(
    *,
    lot: str,
    entry: LedgerEntry,
    entry_hash: str,
    expected_prev: str | None,
    previous_seq: int | None,
    keys: dict[str, KeyState],
    service_key: PublicKey,
) -> list[str]:
    problems: list[str] = []
    if entry_hash != entry.hash:
        problems.append(f"hash: body hashes to {entry_hash[:16]}…, stored {entry.hash[:16]}…")
    try:
        event = Event.from_json(entry.body, path="body")
    except FieldError as exc:
        return [*problems, f"shape: {exc}"]
    if event.lot != lot:
        problems.append(f"lot: event names lot {event.lot}")
    if event.prev != expected_prev:
        problems.append(
            f"link: prev is {event.prev and event.prev[:16]}, expected "
            f"{expected_prev and expected_prev[:16]}"
        )
    if previous_seq is not None and entry.seq <= previous_seq:
        problems.append(f"order: seq {entry.seq} does not follow seq {previous_seq}")
    state = keys.get(event.key)
    if state is None:
        problems.append(f"key: {event.key} is not in the registry")
    else:
        if state.partner != event.partner:
            problems.append(f"key: {event.key} belongs to {state.partner}, not {event.partner}")
        invalid = state.valid_at(entry.seq)
        if invalid:
            problems.append(f"key: {invalid}")
        try:
            state.public_key.verify(
                event.canonical, entry.signature_bytes(), what=f"event by {event.partner}"
            )
        except LedgerError as exc:
            problems.append(f"signature: {exc}")
    receipt = _receipt_problem(entry, entry_hash, service_key)
    if receipt:
        problems.append(f"receipt: {receipt}")
    return problems


def verify_lot_export(doc: object, *, service_key: PublicKey | None = None) -> Report:
    """Verify a lot export; the report lists every check and every failure.

    ``service_key`` pins the service's public key; without it the key inside the
    export is used and the report says so. Raises FieldError only when the
    document is not an export at all.
    """
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise FieldError("format", f"not a {EXPORT_FORMAT} document")
    lot = doc.get("lot")
    if not isinstance(lot, str):
        raise FieldError("lot", "must be a string")
    report = Report()
    exported_key = PublicKey.from_b64(str(doc.get("service_key")), field="service_key")
    if service_key is None:
        service_key = exported_key
        report.checks.append(
            Check("service key", True, "taken from the export itself (not pinned)", lot=lot)
        )
    else:
        same = service_key.raw == exported_key.raw
        report.checks.append(
            Check(
                "service key",
                same,
                "matches the pinned key" if same else "export names a different service key",
                lot=lot,
            )
        )
    registry = [
        LedgerEntry.from_json(item, path=f"registry[{index}]")
        for index, item in enumerate(doc.get("registry") or [])
    ]
    events = [
        LedgerEntry.from_json(item, path=f"events[{index}]")
        for index, item in enumerate(doc.get("events") or [])
    ]
    keys = _registry_keys(registry, service_key, report)
    expected_prev: str | None = None
    previous_seq: int | None = None
    for lot_seq, entry in enumerate(events):
        entry_hash = sha256_hex(canonical_bytes(entry.body))
        problems = _event_problems(
            lot=lot,
            entry=entry,
            entry_hash=entry_hash,
            expected_prev=expected_prev,
            previous_seq=previous_seq,
            keys=keys,
            service_key=service_key,
        )
        action = entry.body.get("action", "?")
        report.checks.append(
            Check(
                check=f"event #{lot_seq}",
                ok=not problems,
                detail="; ".join(problems) or f"{action}: hash, link, key, signature, receipt",
                lot=lot,
                lot_seq=lot_seq,
                seq=entry.seq,
                hash=entry.hash,
            )
        )
        expected_prev = entry_hash
        previous_seq = entry.seq
    head, length = doc.get("head"), doc.get("length")
    head_ok = head == expected_prev and length == len(events)
    report.checks.append(
        Check(
            "head",
            head_ok,
            f"chain of {len(events)} events ends at the lot's recorded head"
            if head_ok
            else f"lot records head {str(head)[:16]} after {length} events; the chain has "
            f"{len(events)} events ending at {str(expected_prev)[:16]}",
            lot=lot,
        )
    )
    return report
